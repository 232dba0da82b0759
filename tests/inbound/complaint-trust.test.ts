/**
 * COMPLAINT_TRUSTED_SOURCES: with it set, an ARF complaint sent to the bounce intake counts (complained event,
 * suppression) only when a listed source vouches for it: a DKIM signature with d= a listed domain (exactly, or under a
 * `.domain` entry), a reporter address as the report's one From signed by its domain or a parent, or a listed
 * connecting address. Any other is stored as `untrusted` and changes nothing: every recipient of a message knows its
 * VERP address and could otherwise file complaints that add up to a suspension. Reports are real ARF messages over
 * SMTP, signed with keys made here; the intake's DKIM key lookups go to a resolver function the test hands the listener,
 * except on a second listener built as production builds it, whose lookups go to a real DNS server (DNS_SERVERS).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { dkimVerify } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { chunks, DnsZone, startDnsZone } from '../helpers/dns-zone';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { reportTarget } from '../helpers/report-target';

const FBL = 'fbl.example.net';
/** Listed as `.loops.example.com`: its signatures and those of any domain under it count. */
const TREE = 'loops.example.com';
/** A mailbox provider: it signs every user's mail with d=provider.example; only its loop's address is listed. */
const PROVIDER = 'provider.example';
const REPORTER = `feedback@fbl.${PROVIDER}`;
/** Reporters under a public suffix of two labels (co.uk) and under a private one (blogspot.com, a suffix of its own). */
const UK_REPORTER = 'feedback@fbl.example.co.uk';
const PRIVATE_REPORTER = 'feedback@isp.blogspot.com';
/** Connections from this loopback address come from the listed (unsigned) feedback loop. */
const TRUSTED_IP = '127.0.0.2';

let h: Harness;
let inbound: InboundListener;
/** The intake as production builds it (no resolver handed in): its key lookups go to `dns`. */
let dns: DnsZone;
let production: InboundListener;
let s: Awaited<ReturnType<typeof senderSetup>>;

/** Three different RSA-2048 keys: the committed test-only ones (tests/fixtures/dkim), not ~100-250 ms each to generate. */
const keyOf = (n: number): crypto.KeyPairKeyObjectResult => {
  const privateKey = crypto.createPrivateKey(fs.readFileSync(path.resolve(__dirname, `../fixtures/dkim/test-key-${n}.pem`)));
  return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
};
const fblKey = keyOf(1);
const otherKey = keyOf(2);
const providerKey = keyOf(3);
const publicTxt = (k: crypto.KeyPairKeyObjectResult) => `v=DKIM1; k=rsa; p=${k.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

/** The DNS the intake sees: the key of each name, a lookup that times out, and every name asked for. */
const zone = new Map<string, string>();
const timesOut = new Set<string>();
const asked: string[] = [];
async function resolver(name: string, type: string): Promise<string[][]> {
  asked.push(`${type} ${name}`);
  if (timesOut.has(name)) throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' });
  const txt = type === 'TXT' ? zone.get(name) : undefined;
  if (!txt) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return [[txt]];
}

beforeAll(async () => {
  dns = await startDnsZone();
  h = await startHarness({
    INBOUND_SMTP_PORT: '0',
    SMTP_HOST: '127.0.0.1',
    COMPLAINT_TRUSTED_SOURCES: `${FBL}, .${TREE}, ${REPORTER}, ${UK_REPORTER}, ${PRIVATE_REPORTER}, ${TRUSTED_IP}`,
    DNS_SERVERS: `127.0.0.1:${dns.port}`,
    DNS_TIMEOUT_MS: '1000',
  });
  inbound = await startInboundSmtp(h.services, { dkimResolver: resolver });
  production = await startInboundSmtp(h.services);
  s = await senderSetup(h);
  zone.set(`s1._domainkey.${FBL}`, publicTxt(fblKey));
  zone.set(`s1._domainkey.mail.${FBL}`, publicTxt(fblKey));
  zone.set('s1._domainkey.evil.test', publicTxt(otherKey));
  zone.set(`s1._domainkey.mail.${TREE}`, publicTxt(fblKey));
  zone.set(`s1._domainkey.${PROVIDER}`, publicTxt(providerKey));
  for (const d of ['co.uk', 'example.co.uk', 'blogspot.com']) zone.set(`s1._domainkey.${d}`, publicTxt(providerKey));
});
afterAll(async () => {
  await inbound.close();
  await production.close();
  await h.close();
  await dns.close();
});
beforeEach(() => {
  asked.length = 0;
});

/** One message through the API to `to`; its delivery and VERP address (reportTarget). No worker runs. */
const sent = (to: string) => reportTarget(h, s, to);

/** An ARF abuse report about `m`'s delivery to `rcpt`, as a feedback loop writes it; `pad` bytes more in the quoted body. */
function arf(m: { header: string; verp: string }, rcpt: string, opts: { from?: string; pad?: number } = {}) {
  const pad = opts.pad ? `${'x'.repeat(998)}\r\n`.repeat(Math.ceil(opts.pad / 1000)) : '';
  return [
    `From: ${opts.from ?? `feedback@${FBL}`}`,
    `To: fbl@sl.${s.domain}`,
    'Subject: FW: Your order',
    `Message-ID: <${crypto.randomUUID()}@${FBL}>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"',
    '',
    '--ARF',
    'Content-Type: text/plain',
    '',
    'This is an email abuse report.',
    '--ARF',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'Version: 1',
    `Original-Mail-From: <${m.verp}>`,
    `Original-Rcpt-To: <${rcpt}>`,
    'Source-IP: 203.0.113.9',
    '',
    '--ARF',
    'Content-Type: message/rfc822',
    '',
    `Return-Path: <${m.verp}>`,
    `Message-ID: ${m.header}`,
    `From: shop@${s.domain}`,
    `To: ${rcpt}`,
    'Subject: Your order',
    '',
    `Thanks${pad ? `\r\n${pad}` : ''}`,
    '--ARF--',
    '',
  ].join('\r\n');
}

/**
 * `raw` with a DKIM-Signature of `domain` (selector s1) made with `key`; `maxBodyLength` sets l=, `headerList` h= (colon-separated),
 * `copies` signs that many times (one header each).
 */
async function signed(
  raw: string,
  domain: string,
  key: crypto.KeyPairKeyObjectResult,
  maxBodyLength?: number,
  opts: { headerList?: string; copies?: number } = {},
) {
  const entry = { signingDomain: domain, selector: 's1', privateKey: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), maxBodyLength };
  const signatureData = Array.from({ length: opts.copies ?? 1 }, () => entry);
  // mailauth types headerList as string[], but its signer reads only a colon-separated string (else its defaults).
  const headerList = opts.headerList as unknown as string[] | undefined;
  // mailauth's signer now and then (about 1 in 750 here) makes a signature its own verifier refuses as a bad signature,
  // which a feedback loop's own signer would not: signed again a second later until it verifies against its own key.
  for (let attempt = 0; ; attempt++) {
    const signTime = new Date(Date.now() + attempt * 1000);
    const { signatures, errors } = await dkimSign(raw, { ...entry, signatureData, signTime, ...(headerList ? { headerList } : {}) });
    expect(errors).toEqual([]);
    const own = await dkimVerify(Buffer.from(signatures + raw), { resolver: async () => [[publicTxt(key)]] });
    if (attempt >= 4 || own.results.every((r) => r.status.result !== 'fail')) return signatures + raw;
  }
}

async function deliver(raw: string, localAddress = '127.0.0.1', to: InboundListener = inbound) {
  return nodemailer
    .createTransport({ host: '127.0.0.1', port: to.port, secure: false, ignoreTLS: true, localAddress } as any)
    .sendMail({ envelope: { from: `feedback@${FBL}`, to: [`fbl@sl.${s.domain}`] }, raw });
}

const lastInbound = () => h.services.db('inbound_messages').orderBy('id', 'desc').first();
const eventTypes = async (id: number) => (await h.services.db('events').where({ delivery_id: id }).orderBy('id')).map((e: { type: string }) => e.type);
const suppressed = async (email: string) => (await h.services.db('suppressions').where({ domain_id: s.domainId, email })).length > 0;

/** Stored as `untrusted` against the delivery, with a note matching `why`; no complained event, no suppression. */
async function untrusted(m: { id: number }, rcpt: string, why: RegExp) {
  const row = await lastInbound();
  expect(row).toMatchObject({ kind: 'arf', status: 'untrusted', delivery_id: m.id });
  expect(row.note).toMatch(new RegExp(`^complaint for ${rcpt.replace(/\./g, '\\.')} not applied: `));
  expect(row.note).toMatch(why);
  expect(await eventTypes(m.id)).toEqual(['queued']);
  expect(await suppressed(rcpt)).toBe(false);
}

describe('complaints with COMPLAINT_TRUSTED_SOURCES set', () => {
  /** postern_complaint_sources_total{verdict} as /metrics shows it now. */
  const verdicts = async (verdict: string) =>
    Number(new RegExp(`^postern_complaint_sources_total\\{verdict="${verdict}"\\} (\\d+)$`, 'm').exec((await h.request('GET', '/metrics')).text)?.[1] ?? 0);

  it('applies a report DKIM-signed by a listed domain: complained event, suppression, the source in the note', async () => {
    const trustedBefore = await verdicts('trusted');
    const m = await sent('angry@dest.test');
    const info = await deliver(await signed(arf(m, 'angry@dest.test'), FBL, fblKey));
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: stored as \d+$/);
    expect(await lastInbound()).toMatchObject({
      kind: 'arf',
      status: 'processed',
      delivery_id: m.id,
      note: `complaint for angry@dest.test, DKIM signature of ${FBL}`,
    });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
    expect(await suppressed('angry@dest.test')).toBe(true);
    expect(asked).toEqual([`TXT s1._domainkey.${FBL}`]);
    // Counted for the operator: applied from a trusted source.
    expect(await verdicts('trusted')).toBe(trustedBefore + 1);
  });

  it('keeps a replay of an applied complaint as duplicate without verifying it again (no body hash, no key lookup)', async () => {
    const m = await sent('replayed@dest.test');
    const raw = await signed(arf(m, 'replayed@dest.test'), FBL, fblKey);
    await deliver(raw);
    expect(await lastInbound()).toMatchObject({ status: 'processed', delivery_id: m.id });
    asked.length = 0;
    // mailauth hashes the body before it looks the key up (only for a matching body hash): no lookup, no verification.
    await deliver(raw);
    expect(await lastInbound()).toMatchObject({
      kind: 'arf',
      status: 'duplicate',
      delivery_id: m.id,
      note: 'complaint for replayed@dest.test already recorded',
    });
    expect(asked).toEqual([]);
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
  });

  it("keeps a report signed by a bare listed domain's subdomain as untrusted, without looking up its key", async () => {
    const untrustedBefore = await verdicts('untrusted');
    const m = await sent('sub@dest.test');
    await deliver(await signed(arf(m, 'sub@dest.test'), `mail.${FBL}`, fblKey));
    expect(await verdicts('untrusted')).toBe(untrustedBefore + 1);
    await untrusted(m, 'sub@dest.test', new RegExp(`no DKIM signature of a trusted source: d=mail\\.${FBL.replace(/\./g, '\\.')} \\(not verified\\)`));
    expect(asked).toEqual([]);
  });

  it('applies a report signed by a subdomain of a `.domain` entry', async () => {
    const m = await sent('tree@dest.test');
    await deliver(await signed(arf(m, 'tree@dest.test'), `mail.${TREE}`, fblKey));
    expect(await lastInbound()).toMatchObject({ status: 'processed', note: `complaint for tree@dest.test, DKIM signature of mail.${TREE}` });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
  });

  it("applies a report from a listed reporter address, signed by its domain's parent (the provider's d=)", async () => {
    const m = await sent('prov@dest.test');
    await deliver(await signed(arf(m, 'prov@dest.test', { from: `"Provider FBL" <Feedback@FBL.${PROVIDER}>` }), PROVIDER, providerKey));
    expect(await lastInbound()).toMatchObject({
      status: 'processed',
      note: `complaint for prov@dest.test, DKIM signature of ${PROVIDER} for ${REPORTER}`,
    });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
    expect(await suppressed('prov@dest.test')).toBe(true);
  });

  it("keeps a report a provider's user sent through it (another From, the same d=) as untrusted", async () => {
    const m = await sent('user@dest.test');
    await deliver(await signed(arf(m, 'user@dest.test', { from: `mallory@${PROVIDER}` }), PROVIDER, providerKey));
    await untrusted(m, 'user@dest.test', new RegExp(`d=${PROVIDER} pass \\(From mallory@${PROVIDER} is not a listed reporter of this domain\\)`));
  });

  it("applies a listed reporter's report signed by its organizational domain by the Public Suffix List (example.co.uk)", async () => {
    const m = await sent('uk@dest.test');
    await deliver(await signed(arf(m, 'uk@dest.test', { from: UK_REPORTER }), 'example.co.uk', providerKey));
    expect(await lastInbound()).toMatchObject({ status: 'processed', note: `complaint for uk@dest.test, DKIM signature of example.co.uk for ${UK_REPORTER}` });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
  });

  it("keeps a listed reporter's report signed by the public suffix above it (co.uk) as untrusted, without looking up its key", async () => {
    const m = await sent('suffix@dest.test');
    await deliver(await signed(arf(m, 'suffix@dest.test', { from: UK_REPORTER }), 'co.uk', providerKey));
    await untrusted(m, 'suffix@dest.test', /no DKIM signature of a trusted source: d=co\.uk \(not verified\)/);
    expect(asked).toEqual([]);
  });

  it("keeps a listed reporter's report signed by the private suffix above it (blogspot.com) as untrusted", async () => {
    const m = await sent('private@dest.test');
    await deliver(await signed(arf(m, 'private@dest.test', { from: PRIVATE_REPORTER }), 'blogspot.com', providerKey));
    await untrusted(m, 'private@dest.test', /no DKIM signature of a trusted source: d=blogspot\.com \(not verified\)/);
    expect(asked).toEqual([]);
  });

  it("keeps a listed reporter's report as untrusted when its signature does not cover From", async () => {
    const m = await sent('nofrom@dest.test');
    const raw = arf(m, 'nofrom@dest.test', { from: REPORTER });
    await deliver(await signed(raw, PROVIDER, providerKey, undefined, { headerList: 'Subject:To:Message-ID:Content-Type:MIME-Version' }));
    await untrusted(m, 'nofrom@dest.test', new RegExp(`d=${PROVIDER} pass \\(From not signed\\)`));
  });

  it('keeps a report whose signature does not cover Content-Type as untrusted', async () => {
    const m = await sent('noct@dest.test');
    await deliver(await signed(arf(m, 'noct@dest.test'), FBL, fblKey, undefined, { headerList: 'From:Subject:To:Message-ID:MIME-Version' }));
    await untrusted(m, 'noct@dest.test', new RegExp(`d=${FBL} pass \\(Content-Type not signed\\)`));
  });

  it('keeps a signed report with a second Content-Type prepended as untrusted (the parser reads the first, DKIM the last)', async () => {
    const m = await sent('twoct@dest.test');
    const genuine = await signed(arf(m, 'twoct@dest.test'), FBL, fblKey);
    await deliver(`Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"\r\n${genuine}`);
    await untrusted(m, 'twoct@dest.test', /more than one Content-Type header/);
    expect(asked).toEqual([]);
  });

  it('keeps a signed report over 2 MiB as untrusted without verifying it', async () => {
    const m = await sent('large@dest.test');
    await deliver(await signed(arf(m, 'large@dest.test', { pad: 2 * 1024 * 1024 }), FBL, fblKey));
    await untrusted(m, 'large@dest.test', /too large to verify/);
    expect(asked).toEqual([]);
  });

  it('verifies a report carrying many DKIM-Signature headers with at most 2 key lookups', async () => {
    const m = await sent('many@dest.test');
    const genuine = await signed(arf(m, 'many@dest.test'), FBL, fblKey, undefined, { copies: 6 });
    // Each with its own l= would cost mailauth a body hash of its own: listed ones past the second and unlisted ones are dropped.
    const junk = (d: string, i: number) =>
      `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=${d}; s=s1; l=${100000 + i}; h=from; bh=${'A'.repeat(43)}=; b=AAAA\r\n`;
    const fakes = Array.from({ length: 200 }, (_, i) => junk(i % 2 ? FBL : 'evil.test', i)).join('');
    await deliver(genuine.replace(/^From:/m, `${fakes}From:`));
    expect(await lastInbound()).toMatchObject({ status: 'processed', note: `complaint for many@dest.test, DKIM signature of ${FBL}` });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.length).toBeLessThanOrEqual(2);
  });

  it('keeps an unsigned report as untrusted and changes nothing', async () => {
    const m = await sent('unsigned@dest.test');
    const info = await deliver(arf(m, 'unsigned@dest.test'));
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: stored as \d+$/);
    await untrusted(m, 'unsigned@dest.test', /no DKIM signature; 127\.0\.0\.1 is not a trusted address$/);
  });

  it("keeps a report signed with another key under the listed domain's name as untrusted", async () => {
    const m = await sent('wrongkey@dest.test');
    await deliver(await signed(arf(m, 'wrongkey@dest.test'), FBL, otherKey));
    await untrusted(m, 'wrongkey@dest.test', new RegExp(`d=${FBL} fail \\(bad signature\\)`));
  });

  it('keeps a real signed report edited to name another delivery as untrusted (the body hash no longer matches)', async () => {
    const mine = await sent('mallory@dest.test');
    const victim = await sent('victim@dest.test');
    const genuine = await signed(arf(mine, 'mallory@dest.test'), FBL, fblKey);
    const edited = genuine.split(mine.verp).join(victim.verp).split(mine.header).join(victim.header).split('mallory@').join('victim@');
    await deliver(edited);
    await untrusted(victim, 'victim@dest.test', /body hash did not verify/);
  });

  it('keeps a report signed by a domain not listed as untrusted, without looking up its key', async () => {
    const m = await sent('evil@dest.test');
    await deliver(await signed(arf(m, 'evil@dest.test'), 'evil.test', otherKey));
    await untrusted(m, 'evil@dest.test', /no DKIM signature of a trusted source: d=evil\.test \(not verified\)/);
    expect(asked).toEqual([]);
  });

  it('keeps a listed signature with l= (it covers only the start of the body) as untrusted', async () => {
    const m = await sent('partial@dest.test');
    const raw = arf(m, 'partial@dest.test');
    await deliver(await signed(raw, FBL, fblKey, 40));
    await untrusted(m, 'partial@dest.test', new RegExp(`no DKIM signature of a trusted source verified: d=${FBL} with l= \\(it covers only`));
  });

  it('does not hand an l= signature to mailauth: an l= past the end of the body prints nothing to stdout', async () => {
    const m = await sent('past-end@dest.test');
    // mailauth's verifier console.logs "TOTAL … EXPECTING …" for a signature whose l= exceeds the body it hashed.
    const raw = (await signed(arf(m, 'past-end@dest.test'), FBL, fblKey, 40)).replace(/\bl=40\b/, 'l=999999');
    expect(raw).toContain('l=999999');
    const log = jest.spyOn(console, 'log');
    try {
      await deliver(raw);
      await untrusted(m, 'past-end@dest.test', new RegExp(`d=${FBL} with l= \\(it covers only the start of the body; not verified\\)`));
      expect(log.mock.calls.filter((c) => c[0] === 'TOTAL')).toEqual([]);
    } finally {
      log.mockRestore();
    }
  });

  it('applies an unsigned report from a listed address', async () => {
    const m = await sent('relayed@dest.test');
    await deliver(arf(m, 'relayed@dest.test'), TRUSTED_IP);
    expect(await lastInbound()).toMatchObject({ status: 'processed', note: `complaint for relayed@dest.test, trusted address ${TRUSTED_IP}` });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
    expect(await suppressed('relayed@dest.test')).toBe(true);
  });

  it("answers 451 when a listed domain's key lookup fails for now, and applies the report sent again", async () => {
    const m = await sent('later@dest.test');
    const raw = await signed(arf(m, 'later@dest.test'), FBL, fblKey);
    timesOut.add(`s1._domainkey.${FBL}`);
    await expect(deliver(raw)).rejects.toMatchObject({
      responseCode: 451,
      response: expect.stringMatching(/^451 4\.4\.3 DKIM key lookup failed; try again later/),
    });
    await untrusted(m, 'later@dest.test', /temperror.*answered 451 for a retry$/);
    timesOut.clear();
    await deliver(raw);
    expect(await lastInbound()).toMatchObject({ status: 'processed', delivery_id: m.id });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
  });

  it('applies an unsigned DSN as before: the setting is about complaints only', async () => {
    const m = await sent('gone@dest.test');
    const dsn = [
      'From: MAILER-DAEMON@mx.dest.test',
      `To: ${m.verp}`,
      'Subject: Undelivered Mail Returned to Sender',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"',
      '',
      '--B1',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.dest.test',
      '',
      'Final-Recipient: rfc822; gone@dest.test',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 <gone@dest.test>: User unknown',
      '',
      '--B1--',
      '',
    ].join('\r\n');
    await nodemailer
      .createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true } as any)
      .sendMail({ envelope: { from: '', to: [m.verp] }, raw: dsn });
    expect(await lastInbound()).toMatchObject({ kind: 'dsn', status: 'processed', delivery_id: m.id });
    expect(await eventTypes(m.id)).toEqual(['queued', 'bounced']);
  });
});

describe('DKIM key lookups of the intake as production builds it', () => {
  /** The questions `dns` was asked about `name` so far. */
  const queriesFor = (name: string) => dns.queries.filter((q) => q === `TXT ${name}`).length;

  it('looks a key up once for two reports signed with it', async () => {
    const name = `s1._domainkey.${FBL}`;
    dns.zone.set(name, { txt: [chunks(publicTxt(fblKey))] });
    const first = await sent('cache1@dest.test');
    await deliver(await signed(arf(first, 'cache1@dest.test'), FBL, fblKey), '127.0.0.1', production);
    expect(await lastInbound()).toMatchObject({ status: 'processed', delivery_id: first.id, note: `complaint for cache1@dest.test, DKIM signature of ${FBL}` });
    const once = queriesFor(name);
    expect(once).toBeGreaterThan(0);

    const second = await sent('cache2@dest.test');
    await deliver(await signed(arf(second, 'cache2@dest.test'), FBL, fblKey), '127.0.0.1', production);
    expect(await lastInbound()).toMatchObject({ status: 'processed', delivery_id: second.id });
    expect(queriesFor(name)).toBe(once);
  });

  it('keeps "no such key" for a while: a report signed with an unpublished key, sent twice, costs one lookup', async () => {
    const name = `s1._domainkey.unpublished.${TREE}`;
    const m = await sent('nokey@dest.test');
    const raw = await signed(arf(m, 'nokey@dest.test'), `unpublished.${TREE}`, fblKey);
    await deliver(raw, '127.0.0.1', production);
    await untrusted(m, 'nokey@dest.test', new RegExp(`d=unpublished\\.${TREE.replace(/\./g, '\\.')} neutral \\(no key\\)`));
    const once = queriesFor(name);
    expect(once).toBeGreaterThan(0);
    await deliver(raw, '127.0.0.1', production);
    await untrusted(m, 'nokey@dest.test', /neutral \(no key\)/);
    expect(queriesFor(name)).toBe(once);
  });

  it('looks a key up again after a lookup that failed for now (SERVFAIL), and applies the report sent again', async () => {
    const name = `s1._domainkey.mail.${TREE}`;
    dns.zone.set(name, { rcode: 2 });
    const m = await sent('servfail@dest.test');
    const raw = await signed(arf(m, 'servfail@dest.test'), `mail.${TREE}`, fblKey);
    await expect(deliver(raw, '127.0.0.1', production)).rejects.toMatchObject({ responseCode: 451 });
    await untrusted(m, 'servfail@dest.test', /temperror.*answered 451 for a retry$/);
    const failed = queriesFor(name);
    expect(failed).toBeGreaterThan(0);

    dns.zone.set(name, { txt: [chunks(publicTxt(fblKey))] });
    await deliver(raw, '127.0.0.1', production);
    expect(queriesFor(name)).toBeGreaterThan(failed);
    expect(await lastInbound()).toMatchObject({ status: 'processed', delivery_id: m.id });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
  });
});
