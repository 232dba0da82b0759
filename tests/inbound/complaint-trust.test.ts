/**
 * COMPLAINT_TRUSTED_SOURCES: with it set, an ARF complaint sent to the bounce intake counts (complained event,
 * suppression) only when a DKIM signature of a listed domain verifies on it, or it came from a listed address. Any
 * other is stored as `untrusted` and changes nothing: every recipient of a message knows its VERP address and could
 * otherwise file complaints that add up to a suspension. Reports are real ARF messages over SMTP, signed with a key
 * made here; the intake's DKIM key lookups go to a resolver function the test hands the listener.
 */
import crypto from 'node:crypto';
import nodemailer from 'nodemailer';
import supertest from 'supertest';
import { dkimSign } from 'mailauth/lib/dkim/sign';
import { verpAddress } from '../../src/delivery/verp';
import { verpSecret } from '../../src/delivery/worker';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

const FBL = 'fbl.example.net';
/** Connections from this loopback address come from the listed (unsigned) feedback loop. */
const TRUSTED_IP = '127.0.0.2';

let h: Harness;
let inbound: InboundListener;
let s: Awaited<ReturnType<typeof senderSetup>>;

const keyOf = () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const fblKey = keyOf();
const otherKey = keyOf();
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
  h = await startHarness({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', COMPLAINT_TRUSTED_SOURCES: `${FBL}, ${TRUSTED_IP}` });
  inbound = await startInboundSmtp(h.services, { dkimResolver: resolver });
  s = await senderSetup(h);
  zone.set(`s1._domainkey.${FBL}`, publicTxt(fblKey));
  zone.set(`s1._domainkey.mail.${FBL}`, publicTxt(fblKey));
  zone.set('s1._domainkey.evil.test', publicTxt(otherKey));
});
afterAll(async () => {
  await inbound.close();
  await h.close();
});
beforeEach(() => {
  asked.length = 0;
});

/** One message through the API to `to`; its delivery and VERP address. No worker runs. */
async function sent(to: string) {
  const res = await supertest(h.app)
    .post('/api/v1/email')
    .set('Authorization', `Bearer ${s.key}`)
    .send({
      Subject: 'Your order',
      ContentType: 'plain',
      PlainContent: 'Thanks',
      From: { name: 'Shop', email: `shop@${s.domain}` },
      To: [{ name: '', email: to }],
    });
  const d = await h.services.db('deliveries').where({ message_id: res.body.MessageID, recipient: to }).first();
  const m = await h.services.db('messages').where({ id: res.body.MessageID }).first('message_id_header');
  return { id: Number(d.id), header: m.message_id_header as string, verp: verpAddress(verpSecret(h.services), Number(d.id), `sl.${s.domain}`) };
}

/** An ARF abuse report about `m`'s delivery to `rcpt`, as a feedback loop writes it. */
function arf(m: { header: string; verp: string }, rcpt: string) {
  return [
    `From: feedback@${FBL}`,
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
    'Thanks',
    '--ARF--',
    '',
  ].join('\r\n');
}

/** `raw` with a DKIM-Signature of `domain` (selector s1) made with `key`; `maxBodyLength` sets l=. */
async function signed(raw: string, domain: string, key: crypto.KeyPairKeyObjectResult, maxBodyLength?: number) {
  const entry = { signingDomain: domain, selector: 's1', privateKey: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), maxBodyLength };
  const { signatures, errors } = await dkimSign(raw, { ...entry, signatureData: [entry] });
  expect(errors).toEqual([]);
  return signatures + raw;
}

async function deliver(raw: string, localAddress = '127.0.0.1') {
  return nodemailer
    .createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true, localAddress } as any)
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
  it('applies a report DKIM-signed by a listed domain: complained event, suppression, the source in the note', async () => {
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
  });

  it("applies a report signed by a listed domain's subdomain (its owner holds those keys)", async () => {
    const m = await sent('sub@dest.test');
    await deliver(await signed(arf(m, 'sub@dest.test'), `mail.${FBL}`, fblKey));
    expect(await lastInbound()).toMatchObject({ status: 'processed', note: `complaint for sub@dest.test, DKIM signature of mail.${FBL}` });
    expect(await eventTypes(m.id)).toEqual(['queued', 'complained']);
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
    await untrusted(m, 'evil@dest.test', /d=evil\.test neutral/);
    expect(asked).toEqual([]);
  });

  it('keeps a listed signature with l= (it covers only the start of the body) as untrusted', async () => {
    const m = await sent('partial@dest.test');
    const raw = arf(m, 'partial@dest.test');
    await deliver(await signed(raw, FBL, fblKey, 40));
    await untrusted(m, 'partial@dest.test', new RegExp(`no DKIM signature of a trusted source verified: d=${FBL} pass`));
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
