/**
 * The intake records a remote delay report (a DSN with action `delayed`) as a `deferred` event at most once an hour
 * per delivery. The delivery worker writes `deferred` events for its own retries too: those must not count as an
 * earlier delay report.
 */
import nodemailer from 'nodemailer';
import { reportTarget } from '../helpers/report-target';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';

let rig: RelayRig;
let inbound: InboundListener;

beforeAll(async () => {
  // One retry an hour: the worker defers once and stays away for the rest of the test.
  rig = await startRelayRig({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', RETRY_SCHEDULE_SECONDS: '3600' });
  inbound = await startInboundSmtp(rig.h.services);
});
afterAll(async () => {
  await inbound.close();
  await rig.close();
});

/** A Postfix-style delay report about `rcpt`, sent to the VERP address `verp`. */
function delayDsn(verp: string, rcpt: string) {
  return [
    'From: MAILER-DAEMON@mx.dest.test (Mail Delivery System)',
    `To: ${verp}`,
    'Subject: Delayed Mail (still being retried)',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"',
    '',
    '--B1',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.dest.test. Your message could not be delivered for 4 hours.',
    '',
    '--B1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.dest.test',
    '',
    `Final-Recipient: rfc822; ${rcpt}`,
    'Action: delayed',
    'Status: 4.4.1',
    'Diagnostic-Code: smtp; 421 4.4.1 Connection timed out',
    '',
    '--B1--',
    '',
  ].join('\r\n');
}

async function deliver(to: string, raw: string) {
  return nodemailer
    .createTransport({ host: '127.0.0.1', port: inbound.port, secure: false, ignoreTLS: true } as any)
    .sendMail({ envelope: { from: '', to: [to] }, raw });
}

const lastInbound = () => rig.h.services.db('inbound_messages').orderBy('id', 'desc').first();

it("records a remote delay report within the hour after the worker's own deferral, and a replay of it once", async () => {
  const { h, s, sink } = rig;
  const to = 'slow-mx@dest.test';
  sink.onRcpt = (a) => (a.toLowerCase() === to ? smtpError(451, '4.7.1 Service busy, please come back') : undefined);
  const target = await reportTarget(h, s, to);
  const messageId = target.messageId;
  const lookup = async () =>
    (await h.request('GET', `/api/v1/email/${messageId}`, { headers: { Authorization: `Bearer ${s.key}` } })).body.Recipients[0] as {
      Status: string;
      Events: { Event: string; Data: Record<string, unknown> }[];
    };
  await waitFor(async () => (await lookup()).Events.some((e) => e.Event === 'deferred'), 15_000, "the worker's deferred event");

  const verp = target.verp;
  const info = await deliver(verp, delayDsn(verp, to));
  expect(info.response).toMatch(/^250 2\.0\.0 Ok: stored as \d+$/);
  expect(await lastInbound()).toMatchObject({ kind: 'dsn', status: 'processed', delivery_id: target.id });

  // The remote MTA's replay within the hour is still one report.
  await deliver(verp, delayDsn(verp, to));
  expect(await lastInbound()).toMatchObject({ kind: 'dsn', status: 'duplicate', delivery_id: target.id });

  const r = await lookup();
  expect(r.Status).toBe('deferred');
  const deferred = r.Events.filter((e) => e.Event === 'deferred').map((e) => e.Data);
  expect(deferred).toEqual([
    expect.objectContaining({ smtp_reply: '451 4.7.1 Service busy, please come back', attempts: 1 }),
    expect.objectContaining({ source: 'dsn', status: '4.4.1', smtp_reply: '421 4.4.1 Connection timed out' }),
  ]);
  expect(deferred[0]).not.toHaveProperty('source');
});
