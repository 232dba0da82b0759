/**
 * Upstream's user-area sender domain API (`user.senderdomain.*`, /api/v1/user.senderdomain*), driven over HTTP with a
 * user API key in the query string or body, as upstream's examples do. The domains are the same rows emailgateway.* sees.
 */
import { createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { DnsZone, publish, startDnsZone } from '../helpers/dns-zone';
import { Sink, startSink, waitFor } from '../helpers/sink';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { seed } from '../stats/seed';

let h: Harness;
let dns: DnsZone;
let sink: Sink;
let worker: DeliveryWorker;
beforeAll(async () => {
  dns = await startDnsZone();
  sink = await startSink();
  h = await startHarness({
    DNS_SERVERS: `127.0.0.1:${dns.port}`,
    DNS_TIMEOUT_MS: '1000',
    DELIVERY_MODE: 'relay',
    SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
  });
  worker = createDeliveryWorker(h.services);
});
afterAll(async () => {
  await h.services.queues.close();
  await worker.stop();
  await h.close();
  await sink.close();
  await dns.close();
});

async function keyFor(): Promise<{ key: string; userId: number; sessionId: string }> {
  const u = await createUser(h);
  const k = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'tests' });
  return { key: k.APIKey.APIKey, userId: u.userId, sessionId: u.sessionId };
}

describe('create, get, list', () => {
  it('creates a domain over POST with upstream fields and shows it through get, list and emailgateway.getdomains', async () => {
    const u = await keyFor();
    const name = uniqueDomain();
    const res = await h.request('POST', '/api/v1/user.senderdomain', {
      body: {
        Command: 'user.senderdomain.create',
        APIKey: u.key,
        SenderDomain: name,
        CustomSubdomain: 'foo',
        CustomTrackPrefix: 'bar',
        UnsubscribeLink: true,
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Success: true, DomainID: expect.any(Number) });
    const d = res.body.SenderDomain;
    expect(d).toMatchObject({ DomainID: String(res.body.DomainID), SenderDomain: name, UserID: String(u.userId), Status: 'Approval Pending', PolicyMeta: [] });
    expect(d.Options).toMatchObject({
      LinkTracking: 1,
      OpenTracking: 1,
      UnsubscribeLink: 1,
      CustomSubdomain: 'foo',
      CustomTrackPrefix: 'bar',
      TrackPrefixDisabled: false,
    });
    expect(d.VerificationMeta.DNSRecords[`foo.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(d.VerificationMeta.DNSRecords[`bar-foo.${name}`]).toEqual(['CNAME', 'mx.postern.test']);

    const got = await h.request('GET', `/api/v1/user.senderdomain?APIKey=${u.key}&DomainID=${res.body.DomainID}`);
    expect(got.body).toMatchObject({
      Success: true,
      SenderDomain: {
        DomainID: String(res.body.DomainID),
        Volume7d: 0,
        VolumeDelta: null,
        Reputation: null,
        ReputationBucket: null,
        DeliveryRate: null,
        BounceRate: null,
      },
    });
    const list = await h.request('GET', `/api/v1/user.senderdomains?APIKey=${u.key}`);
    expect(list.body.SenderDomains.map((x: { SenderDomain: string }) => x.SenderDomain)).toEqual([name]);
    const eg = await h.call({ Command: 'emailgateway.getdomains', SessionID: u.sessionId });
    expect(eg.Domains.map((x: { DomainID: number }) => x.DomainID)).toEqual([res.body.DomainID]);
  });

  it('drops the tracking record with UseTrackingSubdomain=false', async () => {
    const u = await keyFor();
    const name = uniqueDomain();
    const res = await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: u.key, SenderDomain: name, UseTrackingSubdomain: false } });
    expect(res.body.SenderDomain.Options.TrackPrefixDisabled).toBe(true);
    expect(Object.keys(res.body.SenderDomain.VerificationMeta.DNSRecords)).not.toContain(`track-sl.${name}`);
  });

  it("answers the upstream codes: 1 missing, 4 localhost, 6 bad label, 7 taken, 5 limit (HTTP 403), 2 another user's id", async () => {
    const u = await keyFor();
    const post = (body: Record<string, unknown>) => h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: u.key, ...body } });
    expect((await post({})).body).toEqual({ Errors: [{ Code: 1, Message: 'Missing SenderDomain parameter' }] });
    expect((await post({ SenderDomain: 'localhost' })).body.Errors[0].Code).toBe(4);
    expect((await post({ SenderDomain: uniqueDomain(), CustomSubdomain: '-bad-' })).body.Errors[0].Code).toBe(6);
    const other = await keyFor();
    const taken = uniqueDomain();
    await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: other.key, SenderDomain: taken } });
    const dup = await post({ SenderDomain: taken });
    expect(dup.status).toBe(400);
    expect(dup.body.Errors[0].Code).toBe(7);
    const limited = await createUser(h, { LimitEmailGatewaySenderDomains: 1 });
    const lk = (await h.call({ Command: 'user.apikey.create', SessionID: limited.sessionId, Note: 'x' })).APIKey.APIKey;
    await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: lk, SenderDomain: uniqueDomain() } });
    const over = await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: lk, SenderDomain: uniqueDomain() } });
    expect(over.status).toBe(403);
    expect(over.body.Errors[0].Code).toBe(5);
    const theirs = (await h.request('GET', `/api/v1/user.senderdomains?APIKey=${other.key}`)).body.SenderDomains[0].DomainID;
    expect((await h.request('GET', `/api/v1/user.senderdomain?APIKey=${u.key}&DomainID=${theirs}`)).body).toEqual({
      Errors: [{ Code: 2, Message: 'Sender domain not found' }],
    });
  });

  it('answers Code 0 "Authentication failed" without a valid key', async () => {
    const res = await h.request('GET', '/api/v1/user.senderdomains?APIKey=nope');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Errors: [{ Code: 0, Message: 'Authentication failed' }] });
  });
});

describe('update, verify, dns, delete', () => {
  it('PATCH reads the JSON body only, regenerates records on a subdomain change and toggles status', async () => {
    const u = await keyFor();
    const name = uniqueDomain();
    const id = (await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: u.key, SenderDomain: name } })).body.DomainID;
    // Query parameters are ignored on PATCH: without the key in the body this is an authentication failure.
    const ignored = await h.request('PATCH', `/api/v1/user.senderdomain?APIKey=${u.key}&DomainID=${id}`, { body: { LinkTracking: false } });
    expect(ignored.body).toEqual({ Errors: [{ Code: 0, Message: 'Authentication failed' }] });
    const tracking = await h.request('PATCH', '/api/v1/user.senderdomain', { body: { APIKey: u.key, DomainID: id, LinkTracking: false } });
    expect(tracking.body).toMatchObject({ Success: true, DnsRegenerated: false, SenderDomain: { Status: 'Approval Pending', Options: { LinkTracking: 0 } } });
    // Not verified yet: it cannot be switched on.
    expect((await h.request('PATCH', '/api/v1/user.senderdomain', { body: { APIKey: u.key, DomainID: id, status: 'Enabled' } })).body.Errors[0].Code).toBe(10);
    expect((await h.request('PATCH', '/api/v1/user.senderdomain', { body: { APIKey: u.key, DomainID: id, status: 'Paused' } })).body.Errors[0].Code).toBe(9);

    const recs = (await h.request('GET', `/api/v1/user.senderdomain.dns?APIKey=${u.key}&DomainID=${id}`)).body;
    expect(recs.DNSRecords[`sl.${name}`]).toEqual({ Type: 'CNAME', Value: 'mx.postern.test', IsVerified: null });
    const full = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    publish(dns.zone, full.Domain.DNSRecords);
    const v = await h.request('POST', '/api/v1/user.senderdomain.verify', { body: { APIKey: u.key, DomainID: id } });
    expect(v.body).toMatchObject({ Success: true, DomainID: id, IsVerified: true, Status: 'Enabled' });
    expect(v.body.DNSRecords[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test', true]);
    expect((await h.request('GET', `/api/v1/user.senderdomain.dns?APIKey=${u.key}&DomainID=${id}`)).body.DNSRecords[`sl.${name}`].IsVerified).toBe(true);

    const off = await h.request('PATCH', '/api/v1/user.senderdomain', { body: { APIKey: u.key, DomainID: id, status: 'disabled' } });
    expect(off.body.SenderDomain.Status).toBe('Disabled');
    const on = await h.request('PATCH', '/api/v1/user.senderdomain', { body: { APIKey: u.key, DomainID: id, status: 'Enabled' } });
    expect(on.body.SenderDomain.Status).toBe('Enabled');

    const moved = await h.request('PATCH', '/api/v1/user.senderdomain', { body: { APIKey: u.key, DomainID: id, CustomSubdomain: 'em' } });
    expect(moved.body).toMatchObject({ DnsRegenerated: true, SenderDomain: { Status: 'Approval Pending', Options: { CustomSubdomain: 'em' } } });
    expect(moved.body.SenderDomain.VerificationMeta.DNSRecords[`em.${name}`]).toEqual(['CNAME', 'mx.postern.test']);

    const del = await h.request('DELETE', `/api/v1/user.senderdomain?APIKey=${u.key}&DomainID=${id}`);
    expect(del.body).toEqual({ Success: true });
    expect((await h.request('GET', `/api/v1/user.senderdomain?APIKey=${u.key}&DomainID=${id}`)).body.Errors[0].Code).toBe(2);
  });

  it('verifyall probes every pending domain of the caller', async () => {
    const u = await keyFor();
    const ids = [];
    for (let i = 0; i < 2; i++)
      ids.push((await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: u.key, SenderDomain: uniqueDomain() } })).body.DomainID);
    const full = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: ids[0] });
    publish(dns.zone, full.Domain.DNSRecords);
    const r = await h.request('POST', '/api/v1/user.senderdomain.verify', { body: { APIKey: u.key, verifyall: true } });
    expect(r.body).toEqual({
      Success: true,
      VerifyAll: true,
      Verified: 1,
      Failed: 1,
      Truncated: false,
      Domains: [
        { DomainID: ids[0], IsVerified: true, Status: 'Enabled' },
        { DomainID: ids[1], IsVerified: false, Status: 'Approval Pending' },
      ],
    });
  });

  it('dnshost names the provider of the name servers, or unknown', async () => {
    const u = await keyFor();
    const name = uniqueDomain();
    const id = (await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: u.key, SenderDomain: name } })).body.DomainID;
    dns.zone.set(name, { ns: ['ada.ns.cloudflare.com', 'bob.ns.cloudflare.com'] });
    expect((await h.request('GET', `/api/v1/user.senderdomain.dnshost?APIKey=${u.key}&DomainID=${id}`)).body).toEqual({
      Success: true,
      DomainID: id,
      SenderDomain: name,
      DnsHost: 'Cloudflare',
      Nameservers: ['ada.ns.cloudflare.com', 'bob.ns.cloudflare.com'],
    });
    dns.zone.set(name, { ns: ['ns1.boutique.example'] });
    expect((await h.request('GET', `/api/v1/user.senderdomain.dnshost?APIKey=${u.key}&DomainID=${id}`)).body).toMatchObject({
      DnsHost: 'unknown',
      Nameservers: ['ns1.boutique.example'],
    });
  });
});

describe('operational figures and sendtest', () => {
  it('reports Volume7d, VolumeDelta, rates, reputation and daily Stats from the rollups', async () => {
    const u = await keyFor();
    const id = (await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: u.key, SenderDomain: uniqueDomain() } })).body.DomainID;
    const now = Date.now();
    const at = (ago: number) => new Date(now - ago).toISOString();
    await seed(h, { userId: u.userId, domainId: id }, [
      ...Array.from({ length: 9 }, (_, i) => ({ to: `ok${i}@x.test`, at: at(3600_000), outcome: { type: 'delivered' as const, seconds: 1 } })),
      { to: 'bad@x.test', at: at(3600_000), outcome: { type: 'bounced', seconds: 1 } },
      ...Array.from({ length: 5 }, (_, i) => ({ to: `old${i}@x.test`, at: at(9 * 86400_000) })),
    ]);
    const d = (await h.request('GET', `/api/v1/user.senderdomain?APIKey=${u.key}&DomainID=${id}&days=30`)).body;
    // 10 this week against 5 the week before; 15 sent in 30 days, 9 delivered, 1 bounced (6.67 %) → 100 − 33 = 67.
    expect(d.SenderDomain).toMatchObject({ Volume7d: 10, VolumeDelta: '+100%', DeliveryRate: 60, BounceRate: 6.67, Reputation: 67, ReputationBucket: 'fair' });
    expect(d.Days).toBe(30);
    const today = new Date(now - 3600_000).toISOString().slice(0, 10);
    expect(d.Stats[today]).toEqual({ Period: today, Sent: 10, Delivered: 9, Bounced: 1, Complaints: 0 });
    expect(Object.keys(d.Stats)).toHaveLength(2);
  });

  it('sendtest delivers a real message from test@<domain> to the sink, and answers 11 (HTTP 502) for a domain that is not Enabled', async () => {
    const u = await keyFor();
    const name = uniqueDomain();
    const id = (await h.request('POST', '/api/v1/user.senderdomain', { body: { APIKey: u.key, SenderDomain: name } })).body.DomainID;
    const pending = await h.request('POST', '/api/v1/user.senderdomain.sendtest', { body: { APIKey: u.key, DomainID: id, to: 'ops@recipient.test' } });
    expect(pending.status).toBe(502);
    expect(pending.body.Errors[0].Code).toBe(11);
    await h.services.db('sender_domains').where({ id }).update({ status: 'Enabled' });
    expect((await h.request('POST', '/api/v1/user.senderdomain.sendtest', { body: { APIKey: u.key, DomainID: id, to: 'nope' } })).body.Errors[0].Code).toBe(8);
    const ok = await h.request('POST', '/api/v1/user.senderdomain.sendtest', { body: { APIKey: u.key, DomainID: id, to: 'ops@recipient.test' } });
    expect(ok.body).toMatchObject({
      Success: true,
      DomainID: id,
      SenderDomain: name,
      To: 'ops@recipient.test',
      Subject: `Sender domain test from ${name}`,
      MessageID: expect.any(String),
    });
    await waitFor(() => sink.received.some((m) => m.to.includes('ops@recipient.test')), 15000, 'the test message');
    const got = sink.received.find((m) => m.to.includes('ops@recipient.test'))!;
    expect(String(got.raw)).toContain(`From: Postern sender domain test <test@${name}>`);
    expect(String(got.raw)).toContain(`sl.${name}`);
  });
});
