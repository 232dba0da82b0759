import nodemailer from 'nodemailer';
import supertest from 'supertest';
import { verpAddress } from '../../src/delivery/verp';
import { verpSecret } from '../../src/delivery/worker';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let inbound: InboundListener;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
  inbound = await startInboundSmtp(h.services);
  s = await senderSetup(h);
});
afterAll(async () => {
  await inbound.close();
  await h.close();
});

/** Sends one message through the API and returns its delivery (no worker: the report arrives on its own). */
async function sent(to: string) {
  const res = await supertest(h.app).post('/api/v1/email').set('Authorization', `Bearer ${s.key}`).send({
    Subject: 'Your order', ContentType: 'plain', PlainContent: 'Thanks', From: { name: 'Shop', email: `shop@${s.domain}` }, To: [{ name: '', email: to }],
  });
  const d = await h.services.db('deliveries').where({ message_id: res.body.MessageID }).first();
  const m = await h.services.db('messages').where({ id: res.body.MessageID }).first('message_id_header');
  return { id: Number(d.id), messageId: res.body.MessageID as string, header: m.message_id_header as string, verp: verpAddress(verpSecret(h.services), Number(d.id), `sl.${s.domain}`) };
}

async function deliver(to: string, raw: string, from = '') {
  return nodemailer.createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true } as any).sendMail({ envelope: { from, to: [to] }, raw });
}

async function lastInbound() {
  return h.services.db('inbound_messages').orderBy('id', 'desc').first();
}

async function eventsOf(deliveryId: number) {
  return (await h.services.db('events').where({ delivery_id: deliveryId }).orderBy('id')).map((e: { type: string; data: string }) => ({ type: e.type, data: JSON.parse(e.data) }));
}

function postfixDsn(verp: string, rcpt: string, status: string, diagnostic: string, action = 'failed') {
  return [
    'From: MAILER-DAEMON@mx.dest.test (Mail Delivery System)',
    `To: ${verp}`,
    'Subject: Undelivered Mail Returned to Sender',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"',
    '',
    '--B1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.dest.test.',
    '',
    '--B1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.dest.test',
    'Arrival-Date: Mon, 23 Nov 2026 02:00:00 +0000',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    `Original-Recipient: rfc822;${rcpt}`,
    `Action: ${action}`,
    `Status: ${status}`,
    'Remote-MTA: dns; mx.dest.test',
    `Diagnostic-Code: smtp; ${diagnostic}`,
    '',
    '--B1',
    'Content-Type: text/rfc822-headers',
    '',
    `Return-Path: <${verp}>`,
    `From: shop@${s.domain}`,
    `To: ${rcpt}`,
    '',
    '--B1--',
    '',
  ].join('\r\n');
}

describe('bounce and complaint intake', () => {
  it('applies a Postfix DSN sent to the VERP address: bounced, hard, suppressed', async () => {
    const m = await sent('nobody@dest.test');
    const info = await deliver(m.verp, postfixDsn(m.verp, 'nobody@dest.test', '5.1.1', '550 5.1.1 <nobody@dest.test>: Recipient address rejected: User unknown in local recipient table'));
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: stored as \d+$/);
    const d = await h.services.db('deliveries').where({ id: m.id }).first();
    expect(d).toMatchObject({ status: 'bounced', bounce_class: 'hard' });
    expect((await eventsOf(m.id)).map((e) => e.type)).toEqual(['queued', 'bounced']);
    expect(await h.services.db('suppressions').where({ domain_id: s.domainId, email: 'nobody@dest.test' }).first()).toMatchObject({ reason: 'hard_bounce' });
    expect(await lastInbound()).toMatchObject({ kind: 'dsn', status: 'processed', delivery_id: m.id });
  });

  it('reads a Gmail-style over-quota DSN as mailbox_full without suppressing', async () => {
    const m = await sent('full@dest.test');
    const raw = [
      'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
      `To: ${m.verp}`,
      'Subject: Delivery Status Notification (Failure)',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; boundary="000000000000g"; report-type=delivery-status',
      '',
      '--000000000000g',
      'Content-Type: multipart/related; boundary="000000000000r"',
      '',
      '--000000000000r',
      'Content-Type: text/html; charset="UTF-8"',
      '',
      '<html><p>Address not found</p></html>',
      '--000000000000r--',
      '--000000000000g',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; googlemail.com',
      'Received-From-MTA: dns; mx.sl.example',
      '',
      'Final-Recipient: rfc822; full@dest.test',
      'Action: failed',
      'Status: 5.2.2',
      'Remote-MTA: dns; gmail-smtp-in.l.google.com. (2607:f8b0::1b, the server for the domain dest.test.)',
      'Diagnostic-Code: smtp; 552-5.2.2 The email account that you tried to reach is over quota.',
      ' Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm',
      'Last-Attempt-Date: Mon, 23 Nov 2026 02:00:00 -0800 (PST)',
      '',
      '--000000000000g--',
      '',
    ].join('\r\n');
    await deliver(m.verp, raw);
    const d = await h.services.db('deliveries').where({ id: m.id }).first();
    expect(d).toMatchObject({ status: 'bounced', bounce_class: 'mailbox_full' });
    expect(d.last_reply).toContain('Please direct the recipient');
    expect(await h.services.db('suppressions').where({ email: 'full@dest.test' }).first()).toBeUndefined();
  });

  it('matches an Outlook-style NDR to a plain address by the original Message-ID', async () => {
    const m = await sent('gone@dest.test');
    const raw = [
      'From: postmaster@outlook.com',
      `To: postmaster@sl.${s.domain}`,
      'Subject: Undeliverable: Your order',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=delivery-status; boundary="NDR"',
      '',
      '--NDR',
      'Content-Type: text/plain',
      '',
      "Your message to gone@dest.test couldn't be delivered.",
      '--NDR',
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns;AM0PR01MB0001.eurprd01.prod.outlook.com',
      'Received-From-MTA: dns;mx.sl.example',
      '',
      'Final-Recipient: rfc822;gone@dest.test',
      'Action: failed',
      'Status: 5.4.1',
      'Diagnostic-Code: smtp;550 5.4.1 Recipient address rejected: Access denied. AS(201806281)',
      '',
      '--NDR',
      'Content-Type: text/rfc822-headers',
      '',
      `Message-ID: ${m.header}`,
      `From: shop@${s.domain}`,
      'To: gone@dest.test',
      'Subject: Your order',
      '',
      '--NDR--',
      '',
    ].join('\r\n');
    await deliver(`postmaster@sl.${s.domain}`, raw, 'postmaster@outlook.com');
    expect(await h.services.db('deliveries').where({ id: m.id }).first()).toMatchObject({ status: 'bounced', bounce_class: 'hard' });
  });

  it('records a delay report as a deferred event and leaves the status alone', async () => {
    const m = await sent('slow@dest.test');
    await deliver(m.verp, postfixDsn(m.verp, 'slow@dest.test', '4.4.1', '421 4.4.1 Connection timed out', 'delayed'));
    expect((await h.services.db('deliveries').where({ id: m.id }).first()).status).toBe('queued');
    const events = await eventsOf(m.id);
    expect(events[events.length - 1]).toMatchObject({ type: 'deferred', data: { source: 'dsn', status: '4.4.1' } });
  });

  it('turns a Yahoo-style ARF complaint into a complained event and a suppression entry', async () => {
    const m = await sent('angry@dest.test');
    const raw = [
      'From: feedbackloop@comcast.yahoo.com',
      `To: fbl@sl.${s.domain}`,
      'Subject: FW: Your order',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"',
      '',
      '--ARF',
      'Content-Type: text/plain',
      '',
      'This is an email abuse report for an email message received from IP 203.0.113.9.',
      '--ARF',
      'Content-Type: message/feedback-report',
      '',
      'Feedback-Type: abuse',
      'User-Agent: Yahoo!-Mail-Feedback/2.0',
      'Version: 0.1',
      `Original-Mail-From: <${m.verp}>`,
      'Original-Rcpt-To: <angry@dest.test>',
      'Received-Date: Mon, 23 Nov 2026 02:00:00 -0800',
      'Source-IP: 203.0.113.9',
      'Reported-Domain: ' + s.domain,
      '',
      '--ARF',
      'Content-Type: message/rfc822',
      '',
      `Return-Path: <${m.verp}>`,
      `Message-ID: ${m.header}`,
      `From: shop@${s.domain}`,
      'To: angry@dest.test',
      'Subject: Your order',
      '',
      'Thanks',
      '--ARF--',
      '',
    ].join('\r\n');
    await deliver(`fbl@sl.${s.domain}`, raw, 'feedbackloop@comcast.yahoo.com');
    const events = await eventsOf(m.id);
    expect(events[events.length - 1]).toMatchObject({ type: 'complained', data: { feedback_type: 'abuse', source: 'arf' } });
    expect(await h.services.db('suppressions').where({ domain_id: s.domainId, email: 'angry@dest.test' }).first()).toMatchObject({ reason: 'complaint' });
    expect(await lastInbound()).toMatchObject({ kind: 'arf', status: 'processed', delivery_id: m.id });
  });

  it('stores mail it cannot read instead of dropping it', async () => {
    await deliver(`someone@sl.${s.domain}`, `From: a@b.test\r\nSubject: hello\r\n\r\njust a note\r\n`, 'a@b.test');
    const row = await lastInbound();
    expect(row).toMatchObject({ kind: 'unknown', status: 'unparsed', mail_from: 'a@b.test' });
    expect(Buffer.from(row.raw).toString()).toContain('just a note');
  });

  it('keeps a DSN to a forged VERP address as unmatched', async () => {
    const m = await sent('x@dest.test');
    const forged = m.verp.replace(/-([a-z0-9]{10})@/, '-aaaaaaaaaa@');
    await deliver(forged, postfixDsn(forged, 'x@dest.test', '5.1.1', '550 5.1.1 unknown'));
    expect((await h.services.db('deliveries').where({ id: m.id }).first()).status).toBe('queued');
    expect(await lastInbound()).toMatchObject({ kind: 'dsn', status: 'unmatched' });
  });

  it('refuses recipients outside the MFROM hosts with 550 5.7.1', async () => {
    await expect(deliver(`someone@${s.domain}`, 'Subject: x\r\n\r\ny\r\n', 'a@b.test')).rejects.toMatchObject({ responseCode: 550 });
    await expect(deliver('someone@elsewhere.test', 'Subject: x\r\n\r\ny\r\n', 'a@b.test')).rejects.toMatchObject({ responseCode: 550 });
  });
});
