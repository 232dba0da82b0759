import { createDnsWatch, DnsWatch } from '../../src/domains/dns-watch';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { DnsZone, publish, startDnsZone } from '../helpers/dns-zone';
import { waitFor } from '../helpers/sink';
import { Receiver, startReceiver, verifyHit } from '../webhooks/receiver';

// The DNS watch end to end: records served by a real DNS server (dns2), the watch driven with a test clock (its
// `now`), webhooks sent by the real webhook worker to a loopback receiver, sends through the v1 door.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let dns: DnsZone;
let h: Harness;
let rx: Receiver;
let hooks: WebhookWorker;
let watch: DnsWatch;

beforeAll(async () => {
  dns = await startDnsZone();
  rx = await startReceiver();
  h = await startHarness({ DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000', WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50' });
  hooks = startWebhookWorker(h.services);
  watch = createDnsWatch(h.services, { timer: false });
});
afterAll(async () => {
  await watch.stop();
  await hooks.stop();
  await h.close();
  await rx.stop();
  await dns.close();
});

interface Rec {
  Host: string;
  Type: string;
  Value: string;
  Purpose: string;
}

/** A user with a domain made Enabled the real way (records published, verifydomain), a sender key and a webhook on domain.dns_failed. */
async function enabledDomain() {
  const u = await createUser(h);
  const name = uniqueDomain('watch');
  const added = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: name });
  const id = added.NewSenderDomainID as number;
  const records: Rec[] = added.Domain.DNSRecords;
  publish(dns.zone, records);
  const v = await h.call({ Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: id });
  expect(v.Domain.Status).toBe('Enabled');
  const key = (await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, DomainID: id, Description: 'watch' })).APIKey.APIKey as string;
  const path = `/hook-${id}`;
  const hook = await h.call({ Command: 'emailgateway.addwebhook', SessionID: u.sessionId, DomainID: id, Event: 'domain.dns_failed', WebhookURL: rx.url(path) });
  expect(hook).toMatchObject({ Success: true });
  return { u, name, id, records, key, path };
}

const getDomain = (d: { u: { sessionId: string }; id: number }) =>
  h.call({ Command: 'emailgateway.getdomain', SessionID: d.u.sessionId, DomainID: d.id }).then((r) => r.Domain);
const eventsOf = async (id: number, type?: string) =>
  (await h.services.db('domain_events').where({ domain_id: id }).orderBy('id')).filter((e: { type: string }) => !type || e.type === type);
const send = (key: string, domain: string) =>
  h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${key}` },
    body: {
      Subject: 'Hi',
      ContentType: 'plain',
      PlainContent: 'Hello',
      From: { name: 'A', email: `a@${domain}` },
      To: [{ name: 'B', email: 'b@recipient.test' }],
    },
  });
const fmt = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
/** Sets the domain's next check to `at`, so a pass at `at` finds it due (each test keeps its own timeline). */
const dueAt = (id: number, at: number) => h.services.db('sender_domains').where({ id }).update({ dns_next_check_at: at });

describe('DNS watch', () => {
  it('reports a broken required record with an event, a signed domain.dns_failed webhook and getdomain, and keeps sending during the grace', async () => {
    const d = await enabledDomain();
    const t0 = Date.now();
    await dueAt(d.id, t0);
    await watch.runOnce(t0);
    expect((await getDomain(d)).DNSWatch).toMatchObject({ LastCheckedAt: fmt(t0), Failing: false, FailingRecords: [] });

    dns.zone.set(`track-sl.${d.name}`, { cname: 'elsewhere.example.net' });
    // Not due again before a day has passed (DNS_WATCH_INTERVAL_SECONDS defaults to 86400).
    await watch.runOnce(t0 + HOUR);
    expect((await getDomain(d)).DNSWatch.Failing).toBe(false);

    const t1 = t0 + DAY;
    await watch.runOnce(t1);
    const got = await getDomain(d);
    expect(got.Status).toBe('Enabled');
    expect(got.DNSWatch).toEqual({
      LastCheckedAt: fmt(t1),
      Failing: true,
      FailingSince: fmt(t1),
      GraceEndsAt: fmt(t1 + 72 * HOUR),
      FailingRecords: [{ Host: `track-sl.${d.name}`, Type: 'CNAME', Purpose: 'tracking', Since: fmt(t1), Found: ['elsewhere.example.net'] }],
    });
    expect(got.DNSRecords.find((r: Rec) => r.Purpose === 'tracking')).toMatchObject({ Verified: false, Found: ['elsewhere.example.net'] });
    expect(got.DomainEvents).toMatchObject([
      { Event: 'domain.dns_failed', At: fmt(t1), Data: { status: 'Enabled', records: [{ host: `track-sl.${d.name}` }] } },
    ]);

    const failed = await eventsOf(d.id, 'domain.dns_failed');
    expect(failed).toHaveLength(1);
    expect(JSON.parse(failed[0].data).records).toEqual([
      { host: `track-sl.${d.name}`, type: 'CNAME', purpose: 'tracking', since: fmt(t1), found: ['elsewhere.example.net'], grace_ends_at: fmt(t1 + 72 * HOUR) },
    ]);

    await waitFor(() => rx.hits.some((x) => x.path === d.path), 10000, 'the domain.dns_failed webhook');
    const signing = await h.call({ Command: 'emailgateway.getwebhooks', SessionID: d.u.sessionId, DomainID: d.id });
    const body = verifyHit(
      rx.hits.find((x) => x.path === d.path)!,
      signing,
    );
    expect(body).toMatchObject({
      type: 'domain.dns_failed',
      data: { domain: d.name, domain_id: d.id, status: 'Enabled', records: [{ host: `track-sl.${d.name}`, purpose: 'tracking' }] },
    });

    // Within the grace the domain still sends.
    const ok = await send(d.key, d.name);
    expect(ok.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);

    // The same failure found again is no new event.
    await watch.runOnce(t1 + DAY);
    expect(await eventsOf(d.id, 'domain.dns_failed')).toHaveLength(1);
    expect((await getDomain(d)).DNSWatch.FailingSince).toBe(fmt(t1));

    // The worker's /metrics counts the checks and the events.
    const scraped = await h.services.metrics.scrape();
    expect(scraped).toMatch(/^postern_dns_watch_checks_total\{result="ok"\} [1-9]/m);
    expect(scraped).toMatch(/^postern_dns_watch_checks_total\{result="failing"\} [1-9]/m);
    expect(scraped).toMatch(/^postern_domain_events_total\{event="domain.dns_failed"\} [1-9]/m);
  });

  it('sends the domain back to Approval Pending once the grace has passed, refuses its mail with code 32, and enables it again when the record is back', async () => {
    const d = await enabledDomain();
    const t1 = Date.now() + 10 * DAY;
    await dueAt(d.id, t1);
    dns.zone.delete(`sl.${d.name}`);
    await watch.runOnce(t1);
    expect((await getDomain(d)).Status).toBe('Enabled');
    await watch.runOnce(t1 + 2 * DAY);
    expect((await getDomain(d)).Status).toBe('Enabled');
    expect((await send(d.key, d.name)).body.MessageID).toBeDefined();

    await watch.runOnce(t1 + 3 * DAY); // 72 h after the failure was found
    const got = await getDomain(d);
    expect(got.Status).toBe('Approval Pending');
    expect(got.DNSWatch.FailingRecords.map((r: { Host: string }) => r.Host)).toEqual([`sl.${d.name}`]);
    const deactivated = await eventsOf(d.id, 'domain.deactivated');
    expect(deactivated).toHaveLength(1);
    expect(JSON.parse(deactivated[0].data)).toMatchObject({ reason: 'grace_expired', status: 'Approval Pending' });

    const refused = await send(d.key, d.name);
    expect(refused.body).toEqual({
      Errors: [{ Code: 32, Message: `Domain ${d.name} is not activated (status: Approval Pending); verify its DNS records first` }],
    });
    const legacy = await h.call({
      Command: 'emailgateway.sendemail',
      SenderAPIKey: d.key,
      Subject: 'Hi',
      ContentType: 'plain',
      PlainContent: 'x',
      From: { name: 'A', email: `a@${d.name}` },
      To: [{ name: 'B', email: 'b@recipient.test' }],
    });
    expect(legacy).toMatchObject({ Success: false, ErrorCode: [32] });

    // The record comes back: the next check clears the failure and the domain sends again.
    publish(
      dns.zone,
      d.records.filter((r) => r.Purpose === 'mfrom'),
    );
    await watch.runOnce(t1 + 4 * DAY);
    const back = await getDomain(d);
    expect(back.Status).toBe('Enabled');
    expect(back.DNSWatch).toMatchObject({ Failing: false, FailingSince: null, GraceEndsAt: null, FailingRecords: [] });
    expect(await eventsOf(d.id, 'domain.dns_restored')).toHaveLength(1);
    expect((await send(d.key, d.name)).body.MessageID).toBeDefined();
  });

  it('clears a failure whose record comes back within the grace, with a domain.dns_restored event', async () => {
    const d = await enabledDomain();
    const t1 = Date.now() + 20 * DAY;
    await dueAt(d.id, t1);
    const dkim = d.records.find((r) => r.Purpose === 'dkim')!;
    dns.zone.delete(dkim.Host);
    await watch.runOnce(t1);
    expect((await getDomain(d)).DNSWatch.FailingRecords.map((r: { Purpose: string }) => r.Purpose)).toEqual(['dkim']);
    publish(dns.zone, [dkim]);
    await watch.runOnce(t1 + DAY);
    const got = await getDomain(d);
    expect(got.Status).toBe('Enabled');
    expect(got.DNSWatch.Failing).toBe(false);
    expect((await eventsOf(d.id)).map((e: { type: string }) => e.type)).toEqual(['domain.dns_failed', 'domain.dns_restored']);
    // Three days after the first failure nothing happens: the failure was cleared.
    await watch.runOnce(t1 + 3 * DAY);
    expect((await getDomain(d)).Status).toBe('Enabled');
  });

  it('counts no failure while DNS gives no answer (SERVFAIL), however long it lasts, and checks again within the hour', async () => {
    const d = await enabledDomain();
    const t1 = Date.now() + 30 * DAY;
    await dueAt(d.id, t1);
    const mfrom = d.records.find((r) => r.Purpose === 'mfrom')!;
    dns.zone.set(mfrom.Host, { rcode: 2 });
    for (const at of [t1, t1 + HOUR, t1 + 2 * HOUR, t1 + 100 * HOUR]) {
      const pass = await watch.runOnce(at);
      expect(pass.checked).toBeGreaterThanOrEqual(1);
    }
    const got = await getDomain(d);
    expect(got.Status).toBe('Enabled');
    expect(got.DNSWatch.Failing).toBe(false);
    expect(await eventsOf(d.id)).toEqual([]);
    expect(await h.services.metrics.scrape()).toMatch(/^postern_dns_watch_checks_total\{result="inconclusive"\} [4-9]/m);
    expect(Number((await h.services.db('sender_domains').where({ id: d.id }).first()).dns_next_check_at)).toBe(t1 + 101 * HOUR);
    // A definite answer (the name is gone) is a failure again.
    dns.zone.delete(mfrom.Host);
    await watch.runOnce(t1 + 101 * HOUR);
    expect((await getDomain(d)).DNSWatch.FailingRecords.map((r: { Host: string }) => r.Host)).toEqual([mfrom.Host]);
  });

  it('checks each due domain once when several workers run the watch at the same moment', async () => {
    const domains = [await enabledDomain(), await enabledDomain(), await enabledDomain()];
    dns.zone.delete(`sl.${domains[0].name}`);
    const now = Date.now() + 100 * DAY; // every watched domain of this install is due
    const [{ n }] = await h.services
      .db('sender_domains')
      .where((q) => q.where('status', 'Enabled').orWhere((q2) => q2.where('status', 'Approval Pending').whereNotNull('dns_failed_since')))
      .count({ n: '*' });
    const others = [createDnsWatch(h.services, { timer: false }), createDnsWatch(h.services, { timer: false }), createDnsWatch(h.services, { timer: false })];
    const passes = await Promise.all([watch, ...others].map((w) => w.runOnce(now)));
    expect(passes.reduce((sum, p) => sum + p.checked, 0)).toBe(Number(n));
    expect(await eventsOf(domains[0].id, 'domain.dns_failed')).toHaveLength(1);
    for (const d of domains) expect((await getDomain(d)).DNSWatch.LastCheckedAt).toBe(fmt(now));
    // Nothing is due again until the interval has passed.
    const again = await Promise.all(others.map((w) => w.runOnce(now + HOUR)));
    expect(again.every((p) => p.checked === 0)).toBe(true);
    await Promise.all(others.map((w) => w.stop()));
  });

  it('takes over a domain whose check was claimed by a worker that died, once the claim has expired', async () => {
    const d = await enabledDomain();
    const now = Date.now() + 200 * DAY;
    await h.services
      .db('sender_domains')
      .where({ id: d.id })
      .update({ dns_next_check_at: now + 5 * 60_000, dns_check_owner: 'dead-worker' });
    await watch.runOnce(now);
    expect((await getDomain(d)).DNSWatch.LastCheckedAt).toBeNull();
    await watch.runOnce(now + 5 * 60_000);
    expect((await getDomain(d)).DNSWatch.LastCheckedAt).toBe(fmt(now + 5 * 60_000));
  });

  it('leaves domains that were never Enabled, and Disabled ones, to their owners', async () => {
    const u = await createUser(h);
    const name = uniqueDomain('never');
    const added = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: name });
    const d = await enabledDomain();
    await h.services.db('sender_domains').where({ id: d.id }).update({ status: 'Disabled' });
    await watch.runOnce(Date.now() + 300 * DAY);
    const rows = await h.services.db('sender_domains').whereIn('id', [added.NewSenderDomainID, d.id]).select('status', 'dns_checked_at');
    expect(rows.map((r: { status: string; dns_checked_at: number | null }) => [r.status, r.dns_checked_at])).toEqual([
      ['Approval Pending', null],
      ['Disabled', null],
    ]);
  });

  it("does not write back a check of the row as it was read: the owner's Disable during the lookups stays", async () => {
    const d = await enabledDomain();
    const t1 = Date.now() + 500 * DAY;
    await dueAt(d.id, t1);
    // The real lookups, held once done until the owner has acted (only this domain's: other tests' domains may be due).
    const dnsVerifier = h.services.dns;
    const real = dnsVerifier.verify;
    let entered!: () => void;
    let release!: () => void;
    const inLookups = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    dnsVerifier.verify = async (records: Parameters<typeof real>[0]) => {
      const out = await real.call(dnsVerifier, records);
      if (records.some((r) => r.host.endsWith(d.name))) {
        entered();
        await released;
      }
      return out;
    };
    try {
      const pass = watch.runOnce(t1);
      await inLookups;
      const off = await h.call({ Command: 'user.senderdomain.update', SessionID: d.u.sessionId, DomainID: d.id, Status: 'Disabled' });
      expect(off).toMatchObject({ Success: true });
      release();
      await pass;
    } finally {
      dnsVerifier.verify = real;
    }
    expect((await getDomain(d)).Status).toBe('Disabled');
    // The check left its claim: the domain is checked again later, as it is then (Disabled: left to its owner).
    await watch.runOnce(t1 + DAY);
    expect((await getDomain(d)).Status).toBe('Disabled');
  });

  it('lets a webhook subscription (webhook.create) take domain events in its own format', async () => {
    const d = await enabledDomain();
    const created = await h.request('POST', '/api.php', {
      body: {
        Command: 'webhook.create',
        SenderAPIKey: d.key,
        URL: rx.url(`/sub-${d.id}`),
        Events: ['domain.dns_failed', 'domain.dns_restored'],
        Format: 'platform',
      },
    });
    expect(created.body).toMatchObject({ Success: true });
    const t1 = Date.now() + 400 * DAY;
    await dueAt(d.id, t1);
    dns.zone.delete(`track-sl.${d.name}`);
    await watch.runOnce(t1);
    await waitFor(() => rx.hits.some((x) => x.path === `/sub-${d.id}`), 10000, 'the subscription call');
    const hit = rx.hits.find((x) => x.path === `/sub-${d.id}`)!;
    expect(JSON.parse(hit.body)).toMatchObject({ type: 'domain.dns_failed', createdAt: new Date(t1).toISOString(), data: { domain: d.name, domain_id: d.id } });
  });
});
