/**
 * MTA-STS (RFC 8461) in DELIVERY_MODE=mx: a recipient domain's policy, found through a real DNS server and fetched
 * over real HTTPS, decides which of its MX hosts may have the mail and that it goes over verified TLS; the cache keeps
 * a policy through failed fetches; the fetch itself is bounded and guarded.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { Resolver } from 'node:dns/promises';
import selfsigned from 'selfsigned';
import { DkimKeyCache } from '../../src/delivery/dkim-keys';
import { Transports } from '../../src/delivery/transports';
import { createStsStore } from '../../src/delivery/mta-sts-store';
import { MtaSts, parseStsPolicy, parseStsRecord, stsMxMatches } from '../../src/delivery/mta-sts';
import { DnsZone, startDnsZone } from '../helpers/dns-zone';
import { capturingLogger } from '../helpers/log-lines';
import { metric } from '../helpers/prom';
import { DeliveryGateway, firstAttempt, sendOne, startDeliveryGateway, stopDeliveryGateways } from '../helpers/delivery-gateway';
import { Sink, startSink } from '../helpers/sink';

const HOST = '127.0.0.9'; // the TLS MX and the policy server
const base = `sts-${crypto.randomBytes(4).toString('hex')}.example.net`;
const domain = (label: string) => `${label}.${base}`;
const [enforced, noTls, unlisted, testing, cached, redirected, oversized, guarded, changing, overridden, ignored, kept, counted, held, refreshed] = [
  'enforced',
  'notls',
  'unlisted',
  'testing',
  'cached',
  'redirected',
  'oversized',
  'guarded',
  'changing',
  'overridden',
  'ignored',
  'kept',
  'counted',
  'held',
  'refreshed',
].map(domain);

let dns: DnsZone;
let plain: Sink; // 127.0.0.1: no STARTTLS
let tlsMx: Sink; // HOST: STARTTLS with a certificate for *.<each domain>, from the CA in MX_TLS_CA_FILE
let policyServer: https.Server;
let ca: string;
let dir: string;
/** What the policy server answers per host name, and the requests it saw per host name. */
const answers = new Map<string, { status: number; body: string; location?: string }>();
const requests = new Map<string, number>();
let g: DeliveryGateway;
const { logger, lines } = capturingLogger('warn');

/** A domain that publishes a policy: its TXT record, its policy host's address and the policy body. */
function publish(d: string, body: string, id = '1'): void {
  dns.zone.set(`_mta-sts.${d}`, { txt: [[`v=STSv1; id=${id};`]] });
  dns.zone.set(`mta-sts.${d}`, { a: [HOST] });
  answers.set(`mta-sts.${d}`, { status: 200, body });
}
const policy = (mode: string, ...mx: string[]) => `version: STSv1\r\nmode: ${mode}\r\n${mx.map((m) => `mx: ${m}\r\n`).join('')}max_age: 86400\r\n`;
const to = (sk: Sink, address: string) => sk.received.filter((m) => m.to.includes(address));

beforeAll(async () => {
  dns = await startDnsZone();
  plain = await startSink();
  const names = [enforced, noTls, unlisted, testing, cached, redirected, oversized, guarded, changing, overridden, ignored, kept, counted, held, refreshed].map(
    (d) => `*.${d}`,
  );
  const pems = await selfsigned.generate([{ name: 'commonName', value: base }], {
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) }],
  });
  ca = pems.cert;
  tlsMx = await startSink({ host: HOST, port: plain.port }, { tls: { key: pems.private, cert: pems.cert } });
  policyServer = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    const host = String(req.headers.host);
    requests.set(host, (requests.get(host) ?? 0) + 1);
    const a = answers.get(host);
    if (!a || req.url !== '/.well-known/mta-sts.txt') return void res.writeHead(404).end();
    res.writeHead(a.status, { 'content-type': 'text/plain', ...(a.location ? { location: a.location } : {}) }).end(a.body);
  });
  await new Promise<void>((resolve) => policyServer.listen(0, HOST, resolve));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-mta-sts-'));
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca);
  g = await startDeliveryGateway(
    {
      DELIVERY_MODE: 'mx',
      MX_PORT: String(plain.port),
      MTA_STS_PORT: String((policyServer.address() as { port: number }).port),
      MX_TLS_CA_FILE: path.join(dir, 'ca.pem'),
      DNS_SERVERS: `127.0.0.1:${dns.port}`,
      DNS_TIMEOUT_MS: '1000',
      MX_ALLOW_PRIVATE: '1', // every MX and policy host here is on loopback
      MX_TLS_DOMAINS: `${overridden}=may`,
    },
    { logger },
  );
});
afterAll(async () => {
  await stopDeliveryGateways([g]);
  await Promise.all([plain, tlsMx].map((sk) => sk.close()));
  policyServer.closeAllConnections();
  await new Promise((resolve) => policyServer.close(resolve));
  await dns.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** MX records for `d`: `plain.d` (the preferred one, no TLS) and `mx.d` (TLS with a valid certificate). */
function twoMx(d: string): void {
  dns.zone.set(d, {
    mx: [
      { exchange: `plain.${d}`, priority: 5 },
      { exchange: `mx.${d}`, priority: 10 },
    ],
  });
  dns.zone.set(`plain.${d}`, { a: ['127.0.0.1'] });
  dns.zone.set(`mx.${d}`, { a: [HOST] });
}

it('enforce: only the MX host the policy names gets the mail, over verified TLS, though another is preferred', async () => {
  twoMx(enforced);
  publish(enforced, policy('enforce', `mx.${enforced}`));
  const d = await firstAttempt(g, await sendOne(g, `reader@${enforced}`, 'Under an enforced policy'));
  expect(d.status).toBe('delivered');
  // The delivered event names the rule: the domain's policy (so the certificate was verified).
  const events = await g.h.request('GET', `/api/v1/events?MessageID=${d.message_id}&Event=delivered`, { headers: { Authorization: `Bearer ${g.s.key}` } });
  expect(events.body.Events[0].Data).toMatchObject({ tls: expect.stringMatching(/^TLSv1\.[23]$/), tls_policy: 'mta-sts' });
  expect(to(tlsMx, `reader@${enforced}`).map((m) => m.secure)).toEqual([true]);
  expect(to(plain, `reader@${enforced}`)).toEqual([]);
});

it('enforce: an MX the policy names that offers no TLS, or an MX the policy does not name, is never sent to; the mail is deferred', async () => {
  dns.zone.set(noTls, { mx: [{ exchange: `mx.${noTls}`, priority: 10 }] });
  dns.zone.set(`mx.${noTls}`, { a: ['127.0.0.1'] });
  publish(noTls, policy('enforce', `mx.${noTls}`));
  const held = await firstAttempt(g, await sendOne(g, `reader@${noTls}`, 'No TLS on the named MX'));
  expect(held).toMatchObject({
    status: 'deferred',
    last_reply: `MTA-STS enforce for ${noTls}: mx.${noTls} did not start TLS (500 Error: command not recognized); nothing was sent in clear`,
  });
  // A valid certificate for a host the policy does not name (*.mail.<domain> names one more label, not mx.<domain>'s).
  dns.zone.set(unlisted, { mx: [{ exchange: `mx.${unlisted}`, priority: 10 }] });
  dns.zone.set(`mx.${unlisted}`, { a: [HOST] });
  publish(unlisted, policy('enforce', `*.mail.${unlisted}`));
  const other = await firstAttempt(g, await sendOne(g, `reader@${unlisted}`, 'To an MX outside the policy'));
  expect(other).toMatchObject({
    status: 'deferred',
    last_reply: `MTA-STS enforce for ${unlisted}: mx.${unlisted} is not an MX its policy names (*.mail.${unlisted}); not sent`,
  });
  expect([...to(plain, `reader@${noTls}`), ...to(tlsMx, `reader@${unlisted}`)]).toEqual([]);
});

it('testing: the policy is fetched but the mail goes as without it (the preferred MX, in clear)', async () => {
  twoMx(testing);
  publish(testing, policy('testing', `mx.${testing}`));
  const d = await firstAttempt(g, await sendOne(g, `reader@${testing}`, 'Under a testing policy'));
  expect(d.status).toBe('delivered');
  expect(requests.get(`mta-sts.${testing}`)).toBe(1);
  expect(to(plain, `reader@${testing}`).map((m) => m.secure)).toEqual([false]);
  // What enforce would have refused is logged, once an hour per domain, not per message.
  await firstAttempt(g, await sendOne(g, `other@${testing}`, 'Under a testing policy again'));
  const warned = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn' && /MTA-STS testing policy/.test(l.message) && l.domain === testing);
  expect(warned).toEqual([
    expect.objectContaining({ domain: testing, mx: `plain.${testing}`, reasons: ['sent without TLS', `MX host not in the policy (mx: mx.${testing})`] }),
  ]);
});

it('a cached policy still applies when its host later fails, and is not fetched again for each message', async () => {
  twoMx(cached);
  publish(cached, policy('enforce', `mx.${cached}`));
  expect((await firstAttempt(g, await sendOne(g, `first@${cached}`, 'First'))).status).toBe('delivered');
  answers.set(`mta-sts.${cached}`, { status: 500, body: '' });
  expect((await firstAttempt(g, await sendOne(g, `second@${cached}`, 'Second'))).status).toBe('delivered');
  expect(requests.get(`mta-sts.${cached}`)).toBe(1);
  expect(to(tlsMx, `second@${cached}`)).toHaveLength(1);
  expect([...to(plain, `first@${cached}`), ...to(plain, `second@${cached}`)]).toEqual([]);
});

it('counts in /metrics what each policy did: enforce delivered or held, testing would pass', async () => {
  const scrape = async () => {
    const res = await g.h.request('GET', '/metrics');
    expect(res.status).toBe(200);
    return res.text;
  };
  const before = await scrape();
  dns.zone.set(counted, { mx: [{ exchange: `mx.${counted}`, priority: 10 }] });
  dns.zone.set(`mx.${counted}`, { a: [HOST] });
  publish(counted, policy('testing', `mx.${counted}`));
  dns.zone.set(held, { mx: [{ exchange: `mx.${held}`, priority: 10 }] });
  dns.zone.set(`mx.${held}`, { a: ['127.0.0.1'] });
  publish(held, policy('enforce', `mx.${held}`));
  twoMx(enforced); // its policy is cached from the first test
  for (const [d, status] of [
    [counted, 'delivered'],
    [held, 'deferred'],
    [enforced, 'delivered'],
  ])
    expect((await firstAttempt(g, await sendOne(g, `counted@${d}`, 'Counted'))).status).toBe(status);
  const after = await scrape();
  const delta = (mode: string, result: string) =>
    metric(after, 'postern_mta_sts_total', { mode, result }) - metric(before, 'postern_mta_sts_total', { mode, result });
  expect([delta('testing', 'would_pass'), delta('enforce', 'held'), delta('enforce', 'delivered')]).toEqual([1, 1, 1]);
  expect([delta('testing', 'would_hold'), delta('enforce', 'failed')]).toEqual([0, 0]);
});

it('a restarted worker still holds a domain to its policy (kept in the database) when the policy host now fails', async () => {
  twoMx(kept);
  publish(kept, policy('enforce', `mx.${kept}`));
  // An expired row is neither read nor kept: it goes when the next policy is written.
  const db = g.h.services.db;
  await db('mta_sts_policies').insert({ domain: `old.${kept}`, policy_id: 'x', mode: 'enforce', mx: 'mx.old', expires_at: Date.now() - 1, fetched_at: 0 });
  expect(await createStsStore(db).get(`old.${kept}`, Date.now())).toBeNull();
  expect((await firstAttempt(g, await sendOne(g, `first@${kept}`, 'Before the restart'))).status).toBe('delivered');
  expect(await db('mta_sts_policies').where({ domain: kept }).first()).toMatchObject({ policy_id: '1', mode: 'enforce', mx: `mx.${kept}` });
  expect(await db('mta_sts_policies').where({ domain: `old.${kept}` })).toEqual([]);
  // A new id, and a policy host that fails: a process without the kept policy would deliver in clear to plain.<domain>.
  publish(kept, '', '2');
  answers.set(`mta-sts.${kept}`, { status: 500, body: '' });
  const restarted = new Transports(g.h.services.config, new DkimKeyCache(), undefined, null, undefined, createStsStore(g.h.services.db));
  try {
    const sent = await restarted.send({ from: `app@${g.s.domain}`, to: `second@${kept}` }, Buffer.from('Subject: after\r\n\r\nHello.\r\n'), null);
    expect(sent).toMatchObject({ ok: true, tlsPolicy: 'mta-sts' });
  } finally {
    restarted.close();
  }
  expect(requests.get(`mta-sts.${kept}`)).toBe(2);
  expect(to(tlsMx, `second@${kept}`).map((m) => m.secure)).toEqual([true]);
  expect([...to(plain, `first@${kept}`), ...to(plain, `second@${kept}`)]).toEqual([]);
});

it('an MX_TLS_DOMAINS entry for the domain decides instead of its policy, and MTA_STS=0 ignores policies', async () => {
  for (const d of [overridden, ignored]) {
    twoMx(d);
    publish(d, policy('enforce', `mx.${d}`));
  }
  const d = await firstAttempt(g, await sendOne(g, `reader@${overridden}`, 'Under MX_TLS_DOMAINS'));
  expect(d.status).toBe('delivered');
  expect(to(plain, `reader@${overridden}`).map((m) => m.secure)).toEqual([false]);
  const off = new Transports({ ...g.h.services.config, mtaSts: false }, new DkimKeyCache());
  try {
    const sent = await off.send({ from: `app@${g.s.domain}`, to: `reader@${ignored}` }, Buffer.from('Subject: off\r\n\r\nHello.\r\n'), null);
    expect(sent).toMatchObject({ ok: true, tls: null });
  } finally {
    off.close();
  }
  expect(to(plain, `reader@${ignored}`).map((m) => m.secure)).toEqual([false]);
  expect([requests.get(`mta-sts.${overridden}`), requests.get(`mta-sts.${ignored}`)]).toEqual([undefined, undefined]);
});

describe('the policy cache and fetch (MtaSts against the same DNS and HTTPS servers, on a clock of its own)', () => {
  let clock = Date.now();
  const resolver = () => {
    const r = new Resolver({ timeout: 1000, tries: 1 });
    r.setServers([`127.0.0.1:${dns.port}`]);
    return r;
  };
  const sts = (allowPrivate = true) =>
    new MtaSts({
      txt: (name) => resolver().resolveTxt(name),
      address: async (host) => (await resolver().resolve4(host))[0],
      port: (policyServer.address() as { port: number }).port,
      ca: [ca],
      allowPrivate,
      timeoutMs: 2000,
      now: () => clock,
    });

  it('a new id fetches again; a failed fetch keeps the cached policy until its max_age, then there is none', async () => {
    publish(changing, policy('enforce', `mx.${changing}`), 'a1');
    const s = sts();
    // A burst to a new domain: every send waits for the one lookup, none goes out without the policy.
    const burst = await Promise.all([1, 2, 3].map(() => s.policyFor(changing)));
    expect(burst.map((p) => p?.id)).toEqual(['a1', 'a1', 'a1']);
    publish(changing, policy('enforce', `mx2.${changing}`), 'a2');
    expect(await s.policyFor(changing)).toMatchObject({ id: 'a1' }); // the TXT record is trusted for 5 minutes
    clock += 301_000;
    expect(await s.policyFor(changing)).toMatchObject({ id: 'a2', mx: [`mx2.${changing}`] });
    // Neither a stripped TXT record nor a policy host that fails switches the policy off before its max_age.
    dns.zone.delete(`_mta-sts.${changing}`);
    clock += 301_000;
    expect(await s.policyFor(changing)).toMatchObject({ id: 'a2' });
    answers.set(`mta-sts.${changing}`, { status: 503, body: '' });
    dns.zone.set(`_mta-sts.${changing}`, { txt: [['v=STSv1; id=a3']] });
    clock += 301_000;
    expect(await s.policyFor(changing)).toMatchObject({ id: 'a2' });
    clock += 86_400_000;
    expect(await s.policyFor(changing)).toBeNull();
    expect(requests.get(`mta-sts.${changing}`)).toBe(4);
  });

  it('fetches a policy in use again halfway through its max_age, its id unchanged or its TXT record blocked, so nothing lapses', async () => {
    publish(refreshed, policy('enforce', `mx.${refreshed}`), 'r1');
    const s = sts();
    const first = await s.policyFor(refreshed);
    expect(first).toMatchObject({ id: 'r1', mode: 'enforce' });
    clock += 301_000;
    await s.policyFor(refreshed);
    expect(requests.get(`mta-sts.${refreshed}`)).toBe(1); // not before its refresh time
    clock += 43_200_000; // half of max_age 86400 s
    const again = await s.policyFor(refreshed);
    expect(requests.get(`mta-sts.${refreshed}`)).toBe(2);
    expect(again!.expiresAt).toBeGreaterThan(first!.expiresAt);
    // The TXT lookup is blocked now: the policy is still fetched again when due, and moves on.
    dns.zone.delete(`_mta-sts.${refreshed}`);
    clock += 43_200_000;
    const blocked = await s.policyFor(refreshed);
    expect(requests.get(`mta-sts.${refreshed}`)).toBe(3);
    expect(blocked).toMatchObject({ id: 'r1', mode: 'enforce' });
    expect(blocked!.expiresAt).toBeGreaterThan(again!.expiresAt);
    // And the policy host fails too: the policy holds past where the first two fetches ended.
    answers.set(`mta-sts.${refreshed}`, { status: 503, body: '' });
    clock += 50_000_000;
    expect(clock).toBeGreaterThan(again!.expiresAt);
    expect(await s.policyFor(refreshed)).toMatchObject({ id: 'r1', mode: 'enforce' });
  });

  it('a redirect is not followed, a body over 64 KiB is not a policy, and a policy host on a private address is not asked', async () => {
    publish(redirected, '');
    answers.set(`mta-sts.${redirected}`, { status: 301, body: '', location: `https://mta-sts.${enforced}/.well-known/mta-sts.txt` });
    publish(oversized, policy('enforce', `mx.${oversized}`) + `# ${'x'.repeat(70 * 1024)}\r\n`);
    publish(guarded, policy('enforce', `mx.${guarded}`));
    const before = requests.get(`mta-sts.${enforced}`);
    expect(await sts().policyFor(redirected)).toBeNull();
    expect(await sts().policyFor(oversized)).toBeNull();
    expect(await sts(false).policyFor(guarded)).toBeNull();
    expect(requests.get(`mta-sts.${redirected}`)).toBe(1);
    expect(requests.get(`mta-sts.${enforced}`)).toBe(before);
    expect(requests.get(`mta-sts.${oversized}`)).toBe(1);
    expect(requests.get(`mta-sts.${guarded}`)).toBeUndefined();
  });
});

describe('parsing and matching (RFC 8461 §3 and §4.1)', () => {
  it('reads the one v=STSv1 TXT record, and refuses two', () => {
    expect(parseStsRecord([['v=spf1 -all'], ['v=STSv1; id=20261201T01;']])).toBe('20261201T01');
    expect(parseStsRecord([['v=STSv1;', ' id=abc; ext=1']])).toBe('abc');
    expect(parseStsRecord([['v=spf1 -all']])).toBeNull();
    expect(() => parseStsRecord([['v=STSv1; id=1'], ['v=STSv1; id=2']])).toThrow('more than one');
    expect(() => parseStsRecord([['v=STSv1; id=not-alphanumeric']])).toThrow('no valid id');
  });

  it('reads a policy body, capping max_age at a year, and refuses an invalid one', () => {
    expect(parseStsPolicy('version: STSv1\nmode: enforce\nmx: MX1.Example.com.\nmx: *.example.net\nmax_age: 9999999999\n')).toEqual({
      mode: 'enforce',
      mx: ['mx1.example.com', '*.example.net'],
      maxAgeS: 31_557_600,
    });
    expect(parseStsPolicy('version: STSv1\r\nmode: none\r\nmax_age: 0\r\n')).toEqual({ mode: 'none', mx: [], maxAgeS: 0 });
    expect(() => parseStsPolicy('version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n')).toThrow('version');
    expect(() => parseStsPolicy('version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n')).toThrow('mode');
    expect(() => parseStsPolicy('version: STSv1\nmode: enforce\nmax_age: 1\n')).toThrow('no mx');
    expect(() => parseStsPolicy('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n')).toThrow('max_age');
  });

  it('a wildcard names one more label only', () => {
    expect(stsMxMatches('mx1.example.net', ['*.example.net'])).toBe(true);
    expect(stsMxMatches('MX1.example.net.', ['*.example.net'])).toBe(true);
    expect(stsMxMatches('a.mx1.example.net', ['*.example.net'])).toBe(false);
    expect(stsMxMatches('example.net', ['*.example.net'])).toBe(false);
    expect(stsMxMatches('mail.example.com', ['mail.example.com'])).toBe(true);
    expect(stsMxMatches('mail2.example.com', ['mail.example.com'])).toBe(false);
  });
});
