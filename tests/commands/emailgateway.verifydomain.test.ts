import crypto from 'node:crypto';
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { chunks, DnsZone, startDnsZone } from '../helpers/dns-zone';

let dns: DnsZone;
let zone: DnsZone['zone'];

interface ReplyRecord {
  Host: string;
  Type: 'CNAME' | 'TXT';
  Value: string;
  Required: boolean;
  Purpose: 'mfrom' | 'dkim' | 'tracking' | 'dmarc';
}

/** Publishes the records the gateway asked for, except the purposes in `skip`. */
function publish(records: ReplyRecord[], skip: string[] = []): void {
  for (const r of records) {
    if (skip.includes(r.Purpose)) continue;
    zone.set(r.Host, r.Type === 'CNAME' ? { cname: r.Value } : { txt: [chunks(r.Value)] });
  }
}

function unpublish(records: ReplyRecord[]): void {
  for (const r of records) zone.delete(r.Host);
}

let h: Harness;
beforeAll(async () => {
  dns = await startDnsZone();
  zone = dns.zone;
  h = await startHarness({ DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  await h.close();
  await dns.close();
});

const verify = (sessionId: string, params: Record<string, unknown>) => h.call({ Command: 'emailgateway.verifydomain', SessionID: sessionId, ...params });

async function newDomain(extra: Record<string, unknown> = {}) {
  const u = await createUser(h);
  const name = uniqueDomain();
  const added = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: name, ...extra });
  if (!added.Success) throw new Error(JSON.stringify(added));
  const records: ReplyRecord[] = added.Domain.DNSRecords;
  const dkim = records.find((r) => r.Purpose === 'dkim')!.Value;
  return { u, name, id: added.NewSenderDomainID as number, records, dkim };
}

describe('emailgateway.verifydomain', () => {
  it('enables the domain when every record is published and reports each host as verified', async () => {
    const { u, name, id, records, dkim } = await newDomain();
    publish(records);
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      Domain: { DomainID: id, SenderDomain: name, Status: 'Enabled' },
      DNSVerificationResults: {
        [`sl.${name}`]: ['CNAME', 'mx.postern.test', true],
        [`key1._domainkey.${name}`]: ['TXT', dkim, true],
        [`track-sl.${name}`]: ['CNAME', 'mx.postern.test', true],
        [`_dmarc.${name}`]: ['TXT', 'v=DMARC1; p=none', true],
      },
      Records: records.map((x) => ({ Host: x.Host, Type: x.Type, Value: x.Value, Required: x.Required, Purpose: x.Purpose, Verified: true, Found: [x.Value] })),
    });

    const got = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    expect(got.Domain.Status).toBe('Enabled');
    expect(got.Domain.LastVerifiedAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(got.Domain.VerificationMeta.DNSRecords[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test', true]);
  });

  it('verifies a DKIM TXT record split into several 255-byte character-strings', async () => {
    const { u, name, id, records, dkim } = await newDomain();
    publish(records);
    const split = chunks(dkim, 255);
    expect(split.length).toBeGreaterThan(1);
    expect(split[0]).toHaveLength(255);
    zone.set(`key1._domainkey.${name}`, { txt: [split] });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain.Status).toBe('Enabled');
    expect(r.DNSVerificationResults[`key1._domainkey.${name}`]).toEqual(['TXT', dkim, true]);
  });

  it('verifies a DKIM record split at arbitrary points with whitespace inside p=', async () => {
    const { u, name, id, records, dkim } = await newDomain();
    publish(records);
    const p = dkim.slice(dkim.indexOf('p=') + 2);
    zone.set(`key1._domainkey.${name}`, { txt: [['v=DKIM1; k=rsa; ', `p=${p.slice(0, 200)} `, ` ${p.slice(200)}`]] });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.DNSVerificationResults[`key1._domainkey.${name}`][2]).toBe(true);
    expect(r.Domain.Status).toBe('Enabled');
  });

  it('finds the DKIM record among other TXT records on the same host', async () => {
    const { u, name, id, records, dkim } = await newDomain();
    publish(records);
    zone.set(`key1._domainkey.${name}`, { txt: [['some-verification=abc'], chunks(dkim)] });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.DNSVerificationResults[`key1._domainkey.${name}`][2]).toBe(true);
  });

  it('accepts a CNAME target that differs only in case', async () => {
    const { u, name, id, records } = await newDomain();
    publish(records);
    zone.set(`sl.${name}`, { cname: 'MX.Postern.TEST' });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.DNSVerificationResults[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test', true]);
    expect(r.Domain.Status).toBe('Enabled');
  });

  it('keeps the domain Approval Pending and marks DKIM false when another key is published', async () => {
    const { u, name, id, records, dkim } = await newDomain();
    publish(records);
    const { publicKey } = crypto.generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    zone.set(`key1._domainkey.${name}`, { txt: [chunks(`v=DKIM1; k=rsa; p=${publicKey.toString('base64')}`)] });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain).toEqual({ DomainID: id, SenderDomain: name, Status: 'Approval Pending' });
    expect(r.DNSVerificationResults).toEqual({
      [`sl.${name}`]: ['CNAME', 'mx.postern.test', true],
      [`key1._domainkey.${name}`]: ['TXT', dkim, false],
      [`track-sl.${name}`]: ['CNAME', 'mx.postern.test', true],
      [`_dmarc.${name}`]: ['TXT', 'v=DMARC1; p=none', true],
    });
  });

  it('rejects a DKIM record with the right key but another version tag', async () => {
    const { u, name, id, records, dkim } = await newDomain();
    publish(records);
    zone.set(`key1._domainkey.${name}`, { txt: [chunks(dkim.replace('v=DKIM1', 'v=DKIM2'))] });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.DNSVerificationResults[`key1._domainkey.${name}`][2]).toBe(false);
    expect(r.Domain.Status).toBe('Approval Pending');
  });

  it('keeps the domain Approval Pending and marks the host false when a CNAME points elsewhere', async () => {
    const { u, name, id, records } = await newDomain();
    publish(records);
    zone.set(`track-sl.${name}`, { cname: 'elsewhere.example.net' });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain.Status).toBe('Approval Pending');
    expect(r.DNSVerificationResults[`track-sl.${name}`]).toEqual(['CNAME', 'mx.postern.test', false]);
    expect(r.DNSVerificationResults[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test', true]);
    // What DNS answered is shown beside the verdict, in the reply and in getdomain's records.
    expect(r.Records.find((x: { Host: string }) => x.Host === `track-sl.${name}`)).toMatchObject({ Verified: false, Found: ['elsewhere.example.net'] });
    const got = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    expect(got.Domain.DNSRecords.find((x: { Host: string }) => x.Host === `track-sl.${name}`)).toMatchObject({
      Verified: false,
      Found: ['elsewhere.example.net'],
    });
  });

  it('keeps the domain Approval Pending when the MFROM CNAME is wrong', async () => {
    const { u, name, id, records } = await newDomain();
    publish(records);
    zone.set(`sl.${name}`, { cname: 'mx.postern.test.evil.example' });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain.Status).toBe('Approval Pending');
    expect(r.DNSVerificationResults[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test', false]);
  });

  it('reports every record false when nothing is published', async () => {
    const { u, name, id, dkim } = await newDomain();
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      Domain: { DomainID: id, SenderDomain: name, Status: 'Approval Pending' },
      DNSVerificationResults: {
        [`sl.${name}`]: ['CNAME', 'mx.postern.test', false],
        [`key1._domainkey.${name}`]: ['TXT', dkim, false],
        [`track-sl.${name}`]: ['CNAME', 'mx.postern.test', false],
        [`_dmarc.${name}`]: ['TXT', 'v=DMARC1; p=none', false],
      },
      Records: expect.any(Array),
    });
    expect(r.Records.map((x: { Verified: boolean; Found: string[] }) => [x.Verified, x.Found])).toEqual([
      [false, []],
      [false, []],
      [false, []],
      [false, []],
    ]);
    const got = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    expect(got.Domain.Status).toBe('Approval Pending');
    expect(got.Domain.LastVerifiedAt).not.toBeNull();
  });

  it('leaves an Enabled domain Enabled, with no event, and answers 503 / 100007 while DNS gives no answer (SERVFAIL)', async () => {
    const { u, name, id, records } = await newDomain();
    publish(records);
    expect((await verify(u.sessionId, { DomainID: id })).Domain.Status).toBe('Enabled');
    const before = await h.services.db('sender_domains').where({ id }).first('status', 'dns_records', 'last_verified_at', 'dns_failures');
    zone.set(`sl.${name}`, { rcode: 2 });
    const res = await h.request('POST', '/api.php', { body: { Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: id } });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.body).toMatchObject({
      Success: false,
      ErrorCode: 100007,
      ErrorText: expect.stringContaining(`no answer (timeout or server failure) for sl.${name}; nothing was changed`),
    });
    expect(await h.services.db('sender_domains').where({ id }).first('status', 'dns_records', 'last_verified_at', 'dns_failures')).toEqual(before);
    expect(await h.services.db('domain_events').where({ domain_id: id }).pluck('type')).toEqual([]);
    // A pending domain has nothing to lose: it is checked as before and stays pending.
    const pending = await newDomain();
    publish(pending.records);
    zone.set(`sl.${pending.name}`, { rcode: 2 });
    expect((await verify(pending.u.sessionId, { DomainID: pending.id })).Domain.Status).toBe('Approval Pending');
  });

  it('enables the domain without a DMARC record, which is not required', async () => {
    const { u, name, id, records } = await newDomain();
    publish(records, ['dmarc']);
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain.Status).toBe('Enabled');
    expect(r.DNSVerificationResults[`_dmarc.${name}`]).toEqual(['TXT', 'v=DMARC1; p=none', false]);
  });

  it("accepts the customer's own DMARC policy", async () => {
    const { u, name, id, records } = await newDomain();
    publish(records, ['dmarc']);
    zone.set(`_dmarc.${name}`, { txt: [['v=DMARC1; p=reject; rua=mailto:dmarc@example.com']] });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.DNSVerificationResults[`_dmarc.${name}`]).toEqual(['TXT', 'v=DMARC1; p=none', true]);
  });

  it('enables a domain with TrackPrefixDisabled from the MFROM and DKIM records alone', async () => {
    const { u, name, id, records, dkim } = await newDomain({ TrackPrefixDisabled: 1 });
    publish(records, ['dmarc']);
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain.Status).toBe('Enabled');
    expect(r.DNSVerificationResults).toEqual({
      [`sl.${name}`]: ['CNAME', 'mx.postern.test', true],
      [`key1._domainkey.${name}`]: ['TXT', dkim, true],
      [`_dmarc.${name}`]: ['TXT', 'v=DMARC1; p=none', false],
    });
  });

  it('moves an Enabled domain back to Approval Pending when a later verify finds the records gone', async () => {
    const { u, name, id, records } = await newDomain();
    publish(records);
    expect((await verify(u.sessionId, { DomainID: id })).Domain.Status).toBe('Enabled');
    unpublish(records);
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain.Status).toBe('Approval Pending');
    expect(r.DNSVerificationResults[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test', false]);
    const got = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    expect(got.Domain.Status).toBe('Approval Pending');
  });

  it('verifies the hosts of the current settings after an update', async () => {
    const { u, name, id, records } = await newDomain();
    publish(records);
    expect((await verify(u.sessionId, { DomainID: id })).Domain.Status).toBe('Enabled');
    const upd = await h.call({ Command: 'emailgateway.updatedomain', SessionID: u.sessionId, DomainID: id, Subdomain: 'outbound' });
    expect(upd.Domain.Status).toBe('Approval Pending');
    const stale = await verify(u.sessionId, { DomainID: id });
    expect(stale.Domain.Status).toBe('Approval Pending');
    expect(stale.DNSVerificationResults[`outbound.${name}`]).toEqual(['CNAME', 'mx.postern.test', false]);
    expect(stale.DNSVerificationResults[`sl.${name}`]).toBeUndefined();
    publish(upd.Domain.DNSRecords);
    expect((await verify(u.sessionId, { DomainID: id })).Domain.Status).toBe('Enabled');
  });

  it('leaves an admin-set Disabled status alone', async () => {
    const { u, id, records } = await newDomain();
    publish(records);
    await h.services.db('sender_domains').where({ id }).update({ status: 'Disabled' });
    const r = await verify(u.sessionId, { DomainID: id });
    expect(r.Domain.Status).toBe('Disabled');
  });

  describe('errors', () => {
    it('answers ErrorCode [1] when DomainID is missing', async () => {
      const u = await createUser(h);
      const r = await verify(u.sessionId, {});
      expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });
    });

    it('answers ErrorCode 2 for a missing domain', async () => {
      const u = await createUser(h);
      const r = await verify(u.sessionId, { DomainID: 999999 });
      expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
    });

    it('answers ErrorCode 2 for a domain owned by another user, exactly as for a missing one, and leaves it as it was', async () => {
      const owner = await createUser(h);
      const other = await createUser(h);
      const name = uniqueDomain();
      const id = await addDomain(h, owner.sessionId, name);
      const got = await h.call({ Command: 'emailgateway.getdomain', SessionID: owner.sessionId, DomainID: id });
      publish(got.Domain.DNSRecords);
      const foreign = await verify(other.sessionId, { DomainID: id });
      const missing = await verify(other.sessionId, { DomainID: 999999 });
      expect(foreign).toEqual(missing);
      expect(foreign).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
      const row = await h.services.db('sender_domains').where({ id }).first();
      expect(row.status).toBe('Approval Pending');
      expect(row.last_verified_at).toBeNull();
    });
  });
});
