/**
 * A send that is not committed gives its daily and monthly quota back, even when the store refuses the refund at
 * first (the outage that failed the send usually fails the refund too): the refund goes on in the background until
 * it lands. Before, a refused refund was dropped, so every retry through an outage spent the limits on mail that was
 * never written, and a failure between the day's and the month's reservation kept the day's.
 */
import crypto from 'node:crypto';
import { backend, Harness, senderSetup, startHarness } from '../helpers/harness';
import { waitFor } from '../helpers/sink';
import { refuseWith } from '../helpers/refusing-trigger';
import { reserveQuota } from '../../src/mail/quota';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** A trigger that fails as an outage (a statement timeout) on MariaDB, an abort on SQLite, when `when` holds. */
const refuse = (name: string, table: string, op: 'INSERT' | 'UPDATE', when: string) => refuseWith(h.services.db, name, { table, op, when, fault: 'outage' });
const allow = (name: string) => h.services.db.raw(`DROP TRIGGER ${name}`);

const send = (s: { key: string; domain: string }, to: string) =>
  h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'quota', ContentType: 'plain', PlainContent: 'body', From: { name: '', email: `app@${s.domain}` }, To: [{ name: '', email: to }] },
  });

async function counters(userId: number): Promise<Record<string, number>> {
  const rows = await h.services.db('usage_counters').where({ user_id: userId }).select('period', 'sent');
  return Object.fromEntries(rows.map((r: { period: string; sent: number | string }) => [r.period[0], Number(r.sent)]));
}

test('a failed send whose refund the store refuses gets it back once the store takes it', async () => {
  const s = await senderSetup(h, { LimitEmailSendPerDay: 10, LimitEmailSendPerPeriod: 100 });
  expect((await send(s, 'first@dest.test')).body.MessageID).toEqual(expect.any(String));
  expect(await counters(s.userId)).toEqual({ d: 1, m: 1 });
  await refuse('refuse_messages', 'messages', 'INSERT', '1 = 1');
  await refuse('refuse_refunds', 'usage_counters', 'UPDATE', 'NEW.sent < OLD.sent');
  try {
    const failed = await send(s, 'lost@dest.test');
    expect(failed.body.MessageID).toBeUndefined();
    if (backend() === 'mysql') expect(failed.status).toBe(503);
    // Reserved, not written, and the refund refused so far.
    expect(await counters(s.userId)).toEqual({ d: 2, m: 2 });
    await allow('refuse_refunds');
    // The day's counter is given back before the month's: wait for both.
    await waitFor(async () => JSON.stringify(await counters(s.userId)) === JSON.stringify({ d: 1, m: 1 }), 30000, 'the refund to land');
    expect(await counters(s.userId)).toEqual({ d: 1, m: 1 });
  } finally {
    await allow('refuse_messages');
    await allow('refuse_refunds').catch(() => undefined);
  }
  expect((await send(s, 'again@dest.test')).body.MessageID).toEqual(expect.any(String));
  expect(await counters(s.userId)).toEqual({ d: 2, m: 2 });
});

test("a month's reservation that fails gives the day's back", async () => {
  const s = await senderSetup(h, { LimitEmailSendPerDay: 10, LimitEmailSendPerPeriod: 100 });
  expect((await send(s, 'first@dest.test')).body.MessageID).toEqual(expect.any(String));
  await refuse('refuse_month', 'usage_counters', 'UPDATE', "NEW.period LIKE 'm%' AND NEW.sent > OLD.sent");
  try {
    const failed = await send(s, 'second@dest.test');
    expect(failed.body.MessageID).toBeUndefined();
    if (backend() === 'mysql') expect(failed.status).toBe(503);
    // Through an outage (MariaDB here) the refund runs beside the answer, not before it.
    await waitFor(async () => (await counters(s.userId)).d === 1, 5000, "the day's refund");
    expect(await counters(s.userId)).toEqual({ d: 1, m: 1 });
  } finally {
    await allow('refuse_month');
  }
  expect(await h.services.db('messages').where({ domain_id: s.domainId }).count({ n: '*' })).toEqual([{ n: 1 }]);
});

test('a refund is skipped when the send was written after all, and never takes a counter below zero', async () => {
  const s = await senderSetup(h, { LimitEmailSendPerDay: 10 });
  const user = await h.services.db('users').where({ id: s.userId }).first();
  const { refunds } = h.services;
  const sent = (await send(s, 'written@dest.test')).body.MessageID as string;
  // Its COMMIT landed though the answer was lost: the reservation stands.
  const kept = await reserveQuota(h.services.db, user, 2, Date.now(), refunds);
  await refunds.refund(kept!, { messageId: sent });
  expect(await counters(s.userId)).toEqual({ d: 3 });
  // Not written: given back, once; run again (its answer lost after it landed), it gives nothing more.
  const undone = await reserveQuota(h.services.db, user, 3, Date.now(), refunds);
  await refunds.refund(undone!, { messageId: crypto.randomUUID() });
  await refunds.refund(undone!);
  expect(await counters(s.userId)).toEqual({ d: 3 });
  // A counter already lower than the refund (a refund that ran twice) stops at zero instead of failing.
  const big = await reserveQuota(h.services.db, user, 5, Date.now(), refunds);
  await h.services.db('usage_counters').where({ user_id: s.userId }).update({ sent: 1 });
  await refunds.refund(big!);
  expect(await counters(s.userId)).toEqual({ d: 0 });
});

test('a refund is skipped when its send was a pending batch written and expanded since (its row gone)', async () => {
  const s = await senderSetup(h, { LimitEmailSendPerDay: 1000 });
  const user = await h.services.db('users').where({ id: s.userId }).first();
  const auth = { Authorization: `Bearer ${s.key}` };
  // Over GROUP_COMMIT_RECIPIENTS: accepted as one pending_batches row, expanded into its messages by the first read.
  const msg = (i: number) => ({
    Subject: 'quota',
    ContentType: 'plain',
    PlainContent: 'body',
    From: { name: '', email: `app@${s.domain}` },
    To: [{ name: '', email: `r${i}@dest.test` }],
  });
  const res = await h.request('POST', '/api/v1/email/batch', { headers: auth, body: { Messages: Array.from({ length: 51 }, (_, i) => msg(i)) } });
  expect(res.body.Accepted).toBe(51);
  const messageId = res.body.Results[0].MessageID as string;
  const [{ id: pendingId }] = await h.services.db('pending_batches').where({ user_id: s.userId }).select('id');
  expect((await h.request('GET', `/api/v1/email/${messageId}`, { headers: auth })).status).toBe(200);
  expect(await h.services.db('pending_batches').where({ id: pendingId })).toEqual([]);
  expect(await counters(s.userId)).toEqual({ d: 51 });
  // The same send, had its COMMIT landed with its answer lost: the refund's mark names the batch and its first message.
  // The batch's row is gone (expanded, as it long is by the time a recorded refund is applied): the message shows the
  // send was written, and the reservation stands. Before, only the row was asked, and sent mail got its quota back.
  const kept = await reserveQuota(h.services.db, user, 51, Date.now(), h.services.refunds);
  await h.services.refunds.refund(kept!, { pendingId, messageId });
  expect(await counters(s.userId)).toEqual({ d: 102 });
});
