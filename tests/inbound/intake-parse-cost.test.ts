/**
 * What a message costs the bounce intake's event loop, which the `smtp` role shares with the customers' relay front.
 * Anyone may send the intake 600 messages a minute, and postal-mime spent 35-180 ms of CPU a message on a crafted
 * `multipart/report` (a long address list, a thousand tiny parts, RFC 2231 continuations, encoded words in part
 * headers, thousands of empty lines) before the VERP address was checked. Now a report that cannot name one of our
 * deliveries is never parsed, and one that can is parsed only when its MIME structure is a report's. CPU is measured
 * around messages sent through the listener's port, against the same bytes sent as a plain message (text/plain, never
 * parsed) just before, so the bound holds on a loaded machine: the crafted report may cost its plain twin's transfer
 * and storage, not a parse.
 */
import nodemailer from 'nodemailer';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { reportTarget } from '../helpers/report-target';

let h: Harness;
let inbound: InboundListener;
let s: Awaited<ReturnType<typeof senderSetup>>;

/**
 * Copies per measurement. Ten, not twenty: a parse costs 35-180 ms a message against its twin's 4-13 (with the parse
 * put back for one shape at load 30: 83-117 against 6-13 in every round), so ten copies still tell them apart by far;
 * a stray full GC weighs twice as much per message, which the three rounds absorb.
 */
const N = 10;
const WINDOW = 250 * 1024;
const fill = (unit: string) => unit.repeat(Math.floor(WINDOW / unit.length));
const head = (type: string, extra = '') =>
  `From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=${type}; boundary="b"${extra}\r\n`;

/** The review's shapes (docs/bounces.md), each a report of `type` that stays within the 256 KiB / 4,096-line window. */
const shapes: Record<string, (type: string) => string> = {
  'an address list of 64,000 entries': (t) => `${head(t)}To: ${fill('a@b,')}\r\n\r\n--b--\r\n`,
  '1,020 tiny parts': (t) => `${head(t)}\r\n${'--b\r\nContent-Type: text/plain\r\n\r\nx\r\n'.repeat(1020)}--b--\r\n`,
  'RFC 2231 continuations': (t) => {
    let params = '';
    for (let i = 0; params.length < WINDOW; i++) params += `; x*${i}*=abc`;
    return `${head(t, params)}\r\n--b--\r\n`;
  },
  'part headers of encoded words': (t) =>
    `${head(t)}\r\n--b\r\nContent-Type: message/delivery-status\r\nContent-Description: ${fill('=?utf-8?B?QQ==?= ')}\r\n\r\nx\r\n--b--\r\n`,
  '4,090 empty lines': (t) => `${head(t)}\r\n${'\r\n'.repeat(4090)}--b--\r\n`,
};

/** A report of ours in shape, its header fields many and long but each within the limit: parsed, headers left out. */
const manyTo = `${head('delivery-status')}${`To: ${'a@b,'.repeat(2000)}\r\n`.repeat(30)}\r\n--b--\r\n`;

/** CPU ms per message of sending `n` copies of `raw` to `to` through the port (4 pooled connections, as an MTA). */
async function cpuPerMessage(raw: string, to: string, n = N): Promise<number> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 } as any);
  try {
    const before = process.cpuUsage();
    const infos = await Promise.all(Array.from({ length: n }, () => transport.sendMail({ envelope: { from: '', to: [to] }, raw })));
    const used = process.cpuUsage(before);
    for (const info of infos) expect(info.response).toMatch(/^250 2\.0\.0 Ok: stored as \d+$/);
    return (used.user + used.system) / 1000 / n;
  } finally {
    transport.close();
  }
}

const lastInbound = () => h.services.db('inbound_messages').orderBy('id', 'desc').first();

/** The same bytes as a plain message: the intake reads its top-level Content-Type and stores it, nothing more. */
const twin = (raw: string) => raw.replace('Content-Type: multipart/report', 'Content-Type: text/plain; x=xxxxxxx');

/**
 * CPU ms per message of `raw` to `to`, and of its plain twin sent just before; expects the report to cost at most
 * twice its twin plus 5 ms (a parse cost several times that). The process's CPU includes whatever else ran in it
 * meanwhile (a full GC of a jest worker's heap landed in one round of the full suite: 15.2 ms against a twin's 4.5),
 * and noise only ever adds CPU: so up to three rounds, and the check holds if one round passes. A parse costs more in
 * every round.
 */
async function expectCheap(label: string, raw: string, to: string) {
  const rounds: string[] = [];
  for (let round = 0; round < 3; round++) {
    const plainMs = await cpuPerMessage(twin(raw), to);
    const ms = await cpuPerMessage(raw, to);
    if (ms < 2 * plainMs + 5) return;
    rounds.push(`${ms.toFixed(1)} ms/message against its plain twin's ${plainMs.toFixed(1)}`);
  }
  // Named in the failure, not printed on every run: a test's output is for what went wrong.
  throw new Error(`${label}: ${rounds.join('; ')}`);
}

beforeAll(async () => {
  // The per-client limit off: this file sends some 360 messages from one address within a minute or two.
  h = await startHarness({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', INBOUND_MAX_MESSAGES_PER_MINUTE: '0' });
  inbound = await startInboundSmtp(h.services);
  s = await senderSetup(h);
  // Warmed up first (JIT, lazily loaded modules), on every path measured below: to a plain address, to the feedback
  // address, to a VERP address, and a report of ours that is parsed. Cold, the first report to a VERP address and the
  // first parse paid for compiling the modules those paths load at first use (34 and 29 ms a message against their
  // twins' 6 in a clean clone's CI, where this file ran first in its worker and nothing was compiled yet).
  const warm = await reportTarget(h, s, 'warm-up@dest.test');
  await cpuPerMessage(manyTo, warm.verp, 2);
  for (const shape of Object.values(shapes)) {
    for (const [type, to] of [
      ['delivery-status', `someone@sl.${s.domain}`],
      ['feedback-report', `fbl@sl.${s.domain}`],
      ['delivery-status', warm.verp],
    ]) {
      await cpuPerMessage(twin(shape(type)), to, 2);
      await cpuPerMessage(shape(type), to, 2);
    }
  }
});
afterAll(async () => {
  await inbound.close();
  await h.close();
});

describe('a crafted report that names none of our deliveries is not parsed', () => {
  it.each(Object.keys(shapes))('DSN with %s, to a plain address: stored unmatched, cheaply', async (name) => {
    await expectCheap(`dsn, no VERP, ${name}`, shapes[name]('delivery-status'), `someone@sl.${s.domain}`);
    expect(await lastInbound()).toMatchObject({ kind: 'dsn', status: 'unmatched', delivery_id: null });
  });

  it.each(Object.keys(shapes))('ARF with %s, no VERP address anywhere: stored unmatched or unparsed, cheaply', async (name) => {
    await expectCheap(`arf, no VERP, ${name}`, shapes[name]('feedback-report'), `fbl@sl.${s.domain}`);
    expect((await lastInbound()).status).toMatch(/^(unmatched|unparsed)$/);
  });
});

describe('a crafted report to a real VERP address is refused by its shape before the parser', () => {
  // The empty lines are left out: a report of one of our deliveries may carry that many lines, and is parsed.
  const refused = Object.keys(shapes).filter((name) => !name.includes('empty lines'));

  it.each(refused)('DSN with %s: stored unparsed, cheaply, the delivery untouched', async (name) => {
    const m = await reportTarget(h, s, 'crafted@dest.test');
    await expectCheap(`dsn, VERP, ${name}`, shapes[name]('delivery-status'), m.verp);
    const row = await lastInbound();
    expect(row).toMatchObject({ kind: 'unknown', status: 'unparsed' });
    expect(row.note).toMatch(/^not read as a report: /);
    expect((await h.services.db('deliveries').where({ id: m.id }).first()).status).toBe('queued');
  });
});

describe('a report of ours is parsed without the header fields it does not read', () => {
  it('a DSN to a VERP address with 30 To fields of 8,000 bytes each (each within the limit): unparsed, cheaply', async () => {
    const m = await reportTarget(h, s, 'many-to@dest.test');
    await expectCheap('dsn, VERP, 30 To fields of 8,000 bytes', manyTo, m.verp);
    expect(await lastInbound()).toMatchObject({ kind: 'unknown', status: 'unparsed', note: 'not a delivery-status or feedback report' });
  });
});

describe('genuine reports are still read', () => {
  const send = (to: string, raw: string) =>
    nodemailer
      .createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true } as any)
      .sendMail({ envelope: { from: '', to: [to] }, raw });
  const events = async (id: number) => (await h.services.db('events').where({ delivery_id: id }).orderBy('id')).map((e: { type: string }) => e.type);
  const b64 = (text: string) =>
    (
      Buffer.from(text)
        .toString('base64')
        .match(/.{1,76}/g) ?? []
    ).join('\r\n');

  /** An ARF report to the feedback address whose VERP address is only in its `feedback` and `quoted` parts, as given. */
  const arf = (feedback: string[], quoted: string[]) =>
    [
      'From: fbl@isp.test',
      `To: fbl@sl.${s.domain}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=feedback-report;',
      '\tboundary="----=_Part_7_1.2"',
      '',
      '------=_Part_7_1.2',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'This is an abuse report.',
      '------=_Part_7_1.2',
      ...feedback,
      '------=_Part_7_1.2',
      ...quoted,
      '------=_Part_7_1.2--',
      '',
    ].join('\r\n');

  it('applies an ARF report whose feedback and quoted parts are base64 (the VERP address is only in them, encoded)', async () => {
    const m = await reportTarget(h, s, 'b64@dest.test');
    const fields = `Feedback-Type: abuse\r\nVersion: 1\r\nOriginal-Mail-From: <${m.verp}>\r\nOriginal-Rcpt-To: <b64@dest.test>\r\n`;
    const original = `Return-Path: <${m.verp}>\r\nMessage-ID: ${m.header}\r\nFrom: shop@${s.domain}\r\nTo: b64@dest.test\r\n\r\nThanks\r\n`;
    const raw = arf(
      ['Content-Type: message/feedback-report', 'Content-Transfer-Encoding: base64', '', b64(fields)],
      ['Content-Type: message/rfc822', 'Content-Transfer-Encoding: base64', '', b64(original)],
    );
    expect(raw).not.toContain(m.verp);
    await send(`fbl@sl.${s.domain}`, raw);
    expect(await lastInbound()).toMatchObject({ kind: 'arf', status: 'processed', delivery_id: m.id });
    expect(await events(m.id)).toEqual(['queued', 'complained']);
  });

  it('applies an ARF report whose VERP address a quoted-printable soft line break splits', async () => {
    const m = await reportTarget(h, s, 'qp@dest.test');
    const cut = m.verp.indexOf('@') - 4;
    const raw = arf(
      [
        'Content-Type: message/feedback-report',
        'Content-Transfer-Encoding: quoted-printable',
        '',
        'Feedback-Type: abuse',
        `Original-Mail-From: <${m.verp.slice(0, cut)}=`,
        `${m.verp.slice(cut).replace('@', '=40')}>`,
      ],
      ['Content-Type: text/rfc822-headers', '', `Message-ID: ${m.header}`, `From: shop@${s.domain}`],
    );
    expect(raw).not.toContain(m.verp);
    await send(`fbl@sl.${s.domain}`, raw);
    expect(await lastInbound()).toMatchObject({ kind: 'arf', status: 'processed', delivery_id: m.id });
  });

  it("applies an Exchange-style DSN (a nested alternative) quoting a multipart original: the original's parts are not counted", async () => {
    const m = await reportTarget(h, s, 'nested@dest.test');
    const attachments = Array.from({ length: 20 }, (_, i) => [
      '--orig',
      `Content-Type: application/pdf; name="invoice-${i}.pdf"`,
      'Content-Transfer-Encoding: base64',
      '',
      'JVBERi0xLjQK',
    ]).flat();
    const raw = [
      'From: postmaster@exchange.test',
      `To: ${m.verp}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status;',
      '\tboundary="outer"',
      '',
      '--outer',
      'Content-Type: multipart/alternative; differences=Content-Type;',
      '\tboundary="alt"',
      '',
      '--alt',
      'Content-Type: text/plain; charset="us-ascii"',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Delivery has failed to these recipients.',
      '--alt',
      'Content-Type: text/html; charset="us-ascii"',
      '',
      '<p>Delivery has failed to these recipients.</p>',
      '--alt--',
      '',
      '--outer',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns;mx.exchange.test',
      '',
      'Final-Recipient: rfc822;nested@dest.test',
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp;550 5.1.1 RESOLVER.ADR.RecipNotFound; not found',
      '',
      '--outer',
      'Content-Type: message/rfc822',
      '',
      `Message-ID: ${m.header}`,
      `From: shop@${s.domain}`,
      'To: nested@dest.test',
      'Content-Type: multipart/mixed; boundary="orig"',
      '',
      '--orig',
      'Content-Type: text/plain',
      '',
      'Your invoices',
      ...attachments,
      '--orig--',
      '',
      '--outer--',
      '',
    ].join('\r\n');
    await send(m.verp, raw);
    expect(await lastInbound()).toMatchObject({ kind: 'dsn', status: 'processed', delivery_id: m.id });
    expect(await h.services.db('deliveries').where({ id: m.id }).first()).toMatchObject({ status: 'bounced', bounce_class: 'hard' });
  });
});
