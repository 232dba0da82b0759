/**
 * A quota refund lands exactly once even when an answer is lost after its write landed (the connection dropped right
 * after the COMMIT). Before, a give-back whose answer was lost was recorded and given back again, and a record whose
 * answer was lost was given back in memory and its orphan row applied again by the next sweep or start: the counter
 * came down twice, and the user could send past the limit. Each refund now carries a token whose row is written in
 * the transaction that gives the counters back.
 */
import { backend, Harness, senderSetup, startHarness } from '../helpers/harness';
import { loseAnswers } from '../helpers/lost-answers';
import { refuseWith } from '../helpers/refusing-trigger';
import { waitFor } from '../helpers/sink';
import { reserveQuota } from '../../src/mail/quota';
import { applyRecordedRefunds } from '../../src/mail/quota-refunds';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});
afterEach(async () => {
  await h.services.db.raw('DROP TRIGGER IF EXISTS refuse_refunds');
});

async function counters(userId: number): Promise<Record<string, number>> {
  const rows = await h.services.db('usage_counters').where({ user_id: userId }).select('period', 'sent');
  return Object.fromEntries(rows.map((r: { period: string; sent: number | string }) => [r.period[0], Number(r.sent)]));
}

/** A user who has used 5 sends, and a reservation of 2 more: given back once, the counters read 5 again. */
async function reserved() {
  const s = await senderSetup(h, { LimitEmailSendPerDay: 100, LimitEmailSendPerPeriod: 1000 });
  const user = await h.services.db('users').where({ id: s.userId }).first();
  await reserveQuota(h.services.db, user, 5, Date.now(), h.services.refunds);
  const r = await reserveQuota(h.services.db, user, 2, Date.now(), h.services.refunds);
  expect(await counters(s.userId)).toEqual({ d: 7, m: 7 });
  return { s, r: r! };
}

test('a give-back whose answer is lost after it landed is not given back again', async () => {
  const { s, r } = await reserved();
  const { refunds } = h.services;
  // The first try gives back and commits, its answer lost: it is recorded, and tried again in the background.
  const lost = loseAnswers(h.services.db, 1);
  try {
    await refunds.refund(r);
  } finally {
    lost.restore();
  }
  expect(lost.lost()).toBe(1);
  await waitFor(async () => refunds.waiting === 0, 10_000, 'the background tries to end');
  // The next start's (or a sweep's) look at the recorded refunds finds nothing left to give back.
  await applyRecordedRefunds(h.services.db, h.services.logger);
  expect(await counters(s.userId)).toEqual({ d: 5, m: 5 });
});

test('a record whose answer is lost is given back once, by whichever of the process and the sweep gets there first', async () => {
  const { s, r } = await reserved();
  const { refunds } = h.services;
  // The give-back refused (the store failing), then the record's INSERT commits with its answer lost.
  await refuseWith(h.services.db, 'refuse_refunds', { table: 'usage_counters', op: 'UPDATE', when: 'NEW.sent < OLD.sent', fault: 'outage' });
  const lost = loseAnswers(h.services.db, 1);
  try {
    await refunds.refund(r);
    expect(lost.lost()).toBe(1);
  } finally {
    lost.restore();
  }
  expect(await h.services.db('quota_refunds').where({ user_id: s.userId }).whereNull('applied_at').count({ n: '*' })).toEqual([{ n: 1 }]);
  await h.services.db.raw('DROP TRIGGER refuse_refunds');
  // The process's background try and a sweep of the recorded row, both free to give it back now.
  await applyRecordedRefunds(h.services.db, h.services.logger);
  await waitFor(async () => refunds.waiting === 0, 10_000, 'the background tries to end');
  await applyRecordedRefunds(h.services.db, h.services.logger);
  expect(await counters(s.userId)).toEqual({ d: 5, m: 5 });
  expect(await h.services.db('quota_refunds').where({ user_id: s.userId }).whereNull('applied_at')).toEqual([]);
});

// A replay of the same token (the recorded row's, applied by two processes at once on MariaDB): one gives back.
test('a recorded refund applied by two sweeps at once is given back once', async () => {
  const { s, r } = await reserved();
  await refuseWith(h.services.db, 'refuse_refunds', { table: 'usage_counters', op: 'UPDATE', when: 'NEW.sent < OLD.sent', fault: 'outage' });
  await h.services.refunds.refund(r);
  await h.services.db.raw('DROP TRIGGER refuse_refunds');
  const results = await Promise.allSettled([applyRecordedRefunds(h.services.db, h.services.logger), applyRecordedRefunds(h.services.db, h.services.logger)]);
  expect(results.filter((x) => x.status === 'fulfilled').length).toBeGreaterThanOrEqual(backend() === 'sqlite' ? 2 : 1);
  await waitFor(async () => h.services.refunds.waiting === 0, 10_000, 'the background tries to end');
  expect(await counters(s.userId)).toEqual({ d: 5, m: 5 });
});
