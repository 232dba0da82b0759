/**
 * A recipient suppressed after its message was accepted gets nothing more: a retry or a scheduled send is checked
 * against the suppression lists before it is sent (src/delivery/suppressed-since.ts) and ends `suppressed`, as the
 * accept drops a suppressed recipient, while a fresh first attempt is sent without a lookup of its own.
 */
import { RelayRig, startRelayRig } from '../helpers/rig';
import { holdFirstRcpt, waitFor } from '../helpers/sink';

/** Retries 300 ms apart, not the rig's 1 s: the first test waits one step for its retry, and watches three more. */
const RETRY_MS = 300;

let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig({ RETRY_SCHEDULE_MS: String(RETRY_MS) });
});
afterAll(async () => {
  await rig.close();
});

const auth = () => ({ Authorization: `Bearer ${rig.s.key}` });
const send = async (to: string, subject: string, sendAt?: number): Promise<string> => {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: auth(),
    body: {
      Subject: subject,
      ContentType: 'plain',
      PlainContent: 'x',
      From: { name: '', email: `a@${rig.s.domain}` },
      To: [{ name: '', email: to }],
      ...(sendAt ? { SendAt: sendAt } : {}),
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
};
/** Through the sender key's door, as a customer's unsubscribe handling would. */
const suppress = async (email: string) => {
  const res = await rig.h.request('POST', '/api/v1/suppressions', { headers: auth(), body: { EmailAddress: email } });
  expect(res.status).toBe(200);
};
const statusOf = async (messageId: string) => (await rig.h.services.db('deliveries').where({ message_id: messageId }).first('status'))?.status;
const eventsOf = (messageId: string) => rig.h.services.db('events').where({ message_id: messageId }).orderBy('id').pluck('type');
/** How many copies with this subject the sink took. */
const receivedWith = (subject: string) => rig.sink.received.filter((m) => m.raw.toString().includes(`Subject: ${subject}`)).length;
const recipientDomain = async (domain: string) => {
  const r = await rig.h.call({ Command: 'emailgateway.listrecipientdomains', SessionID: rig.s.sessionId, DomainID: rig.s.domainId });
  return r.RecipientDomains.find((d: { Domain: string }) => d.Domain === domain);
};

it('never sends the retry of a message whose address was suppressed after its first attempt was refused', async () => {
  // A fresh first attempt is sent on the accept's own check: no lookup in the shared suppression batcher.
  const lookups = rig.h.services.store.batchers.stats('suppression').items;
  const fresh = await send('fresh@grey-retry.test', 'Fresh one');
  await waitFor(async () => (await statusOf(fresh)) === 'delivered', 15000, 'the fresh message delivered');
  expect(rig.h.services.store.batchers.stats('suppression').items).toBe(lookups);

  const to = 'leaver@grey-retry.test';
  // The first attempt's RCPT waits until the address is suppressed, then is refused (450): its retry, a step later,
  // is the only send that could reach the recipient.
  const hold = holdFirstRcpt(rig.sink, to);
  try {
    const id = await send(to, 'Leaving soon');
    await waitFor(hold.held, 15000, 'the first attempt at RCPT');
    await suppress(to);
    hold.release();
    await waitFor(async () => ['suppressed', 'delivered'].includes(await statusOf(id)), 15000, 'the retry settled');
    expect(receivedWith('Leaving soon')).toBe(0);
    expect(hold.replies).toEqual(['refused']);
    expect(await statusOf(id)).toBe('suppressed');
    expect(await eventsOf(id)).toEqual(['queued', 'deferred', 'suppressed']);

    const got = await rig.h.request('GET', `/api/v1/email/${id}`, { headers: auth() });
    expect(got.body).toMatchObject({ MessageID: id, Status: 'suppressed' });
    expect(got.body.Recipients).toEqual([
      expect.objectContaining({
        Email: to,
        Status: 'suppressed',
        Attempts: 1,
        LastReply: expect.stringContaining('suppression list'),
        FinishedAt: expect.any(String),
      }),
    ]);
    expect(got.body.Recipients[0].Events.map((e: { Event: string }) => e.Event)).toEqual(['queued', 'deferred', 'suppressed']);
    // Counted as failed, and no longer as on its way.
    expect(await recipientDomain('grey-retry.test')).toMatchObject({ Sent: 1, Failed: 1, Sending: 0 });
    // Still not sent three retry steps later (no further retry).
    await new Promise((r) => setTimeout(r, 3 * RETRY_MS + 100));
    expect(receivedWith('Leaving soon')).toBe(0);
  } finally {
    hold.restore();
  }
});

it('never sends a scheduled message whose address was suppressed before its SendAt came; its twin goes out', async () => {
  const sendAt = Math.floor(Date.now() / 1000) + 2;
  const gone = await send('unsubscribed@scheduled.test', 'Scheduled gone', sendAt);
  const kept = await send('kept@scheduled.test', 'Scheduled kept', sendAt);
  expect(await statusOf(gone)).toBe('scheduled');
  await suppress('Unsubscribed@scheduled.test');

  await waitFor(async () => (await statusOf(kept)) === 'delivered', 15000, 'the twin delivered');
  await waitFor(async () => ['suppressed', 'delivered'].includes(await statusOf(gone)), 15000, 'the suppressed one settled');
  expect(receivedWith('Scheduled kept')).toBe(1);
  expect(receivedWith('Scheduled gone')).toBe(0);
  expect(await statusOf(gone)).toBe('suppressed');
  expect(await eventsOf(gone)).toEqual(['scheduled', 'suppressed']);
  const row = await rig.h.services.db('deliveries').where({ message_id: gone }).first('attempts', 'last_reply');
  expect(Number(row.attempts)).toBe(0);
  expect(row.last_reply).toContain('suppression list');
});
