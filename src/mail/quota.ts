import type { Knex } from 'knex';
import type { UserRow } from '../command';
import type { Logger } from '../logger';
import { isOutage } from '../outage';

export function periods(now: number): { day: string; month: string } {
  const iso = new Date(now).toISOString();
  return { day: `d${iso.slice(0, 10)}`, month: `m${iso.slice(0, 7)}` };
}

function limitsOf(user: UserRow, now: number): [string, number][] {
  const { day, month } = periods(now);
  return (
    [
      [day, Number(user.limit_daily)],
      [month, Number(user.limit_monthly)],
    ] as [string, number][]
  ).filter(([, limit]) => limit > 0);
}

/** Gives back what a reservation took; running it again after it failed part way gives nothing back twice. */
export type QuotaUndo = () => Promise<void>;

/** How long a refund the store refused is tried again in the background, and the longest wait between tries. */
const REFUND_FOR_MS = 10 * 60_000;
const REFUND_MAX_WAIT_MS = 30_000;

/**
 * Gives a reservation back (its send was not committed), never throwing. The outage that failed the send often fails
 * the refund too: then it is tried again in the background, doubling from 200 ms, for up to ten minutes, so retries
 * through an outage do not spend the daily and monthly limits on mail never written. A process that stops meanwhile
 * loses the refund (the counter stays high until its period ends), as an error log says when the tries run out.
 * `written` (when given) is asked first, each try: a send whose COMMIT landed though its answer was lost (a timeout,
 * a dropped connection) is delivered, so its reservation stands.
 */
export async function refundQuota(undo: QuotaUndo, logger: Pick<Logger, 'warn' | 'error'>, userId: number, written?: () => Promise<boolean>): Promise<void> {
  const attempt = async () => {
    if (written && (await written())) return;
    await undo();
  };
  try {
    return await attempt();
  } catch (err) {
    logger.warn('quota refund failed; trying again in the background', { user: userId, error: (err as Error).message });
  }
  const until = Date.now() + REFUND_FOR_MS;
  const again = (wait: number) =>
    setTimeout(() => {
      attempt().catch((err: Error) => {
        if (Date.now() + wait < until) return again(Math.min(wait * 2, REFUND_MAX_WAIT_MS));
        logger.error('quota refund given up: the counter stays as it is until its period ends', { user: userId, error: err.message });
      });
    }, wait).unref();
  again(200);
}

/**
 * Counts `n` sends against the user's daily and monthly limits (0 = unlimited, and then nothing is counted).
 * Each counter moves in its own single-statement transaction and only while the new total stays within the
 * limit, so concurrent sends neither overshoot nor hold a lock across the message insert (no deadlocks).
 * Returns an undo for the caller to run (refundQuota) if the send is not committed after all; null when a limit
 * would be passed. A failure part way (the day taken, then the month's statement failing) gives the day back first.
 */
export async function reserveQuota(db: Knex, user: UserRow, n: number, now: number, logger: Pick<Logger, 'warn' | 'error'>): Promise<QuotaUndo | null> {
  const taken: string[] = [];
  // Never below zero: a refund whose answer was lost after it landed runs again, and must not make room twice over
  // (nor fail for ever on the unsigned column).
  const undo = async () => {
    while (taken.length) {
      await db('usage_counters')
        .where({ user_id: user.id, period: taken[0] })
        .update({ sent: db.raw('case when `sent` >= ? then `sent` - ? else 0 end', [n, n]) });
      taken.shift();
    }
  };
  const take = (period: string, limit: number) =>
    db('usage_counters').where({ user_id: user.id, period }).andWhereRaw('sent + ? <= ?', [n, limit]).increment('sent', n);
  try {
    for (const [period, limit] of limitsOf(user, now)) {
      // The counter exists for every send but a period's first: one round trip per limit, the row made only when the
      // update found none to move (or none within the limit, when making it changes nothing).
      let updated = await take(period, limit);
      if (!updated) {
        await db('usage_counters').insert({ user_id: user.id, period, sent: 0 }).onConflict(['user_id', 'period']).ignore();
        updated = await take(period, limit);
      }
      if (!updated) {
        await refundQuota(undo, logger, user.id);
        return null;
      }
      taken.push(period);
    }
  } catch (err) {
    // Through an outage the refund runs on its own: the send's answer does not wait for the store a second time.
    const refund = refundQuota(undo, logger, user.id);
    if (!isOutage(err)) await refund;
    throw err;
  }
  return undo;
}

export async function sentInPeriods(db: Knex, userId: number, now: number): Promise<{ day: number; month: number }> {
  const { day, month } = periods(now);
  const rows = await db('usage_counters').where({ user_id: userId }).whereIn('period', [day, month]);
  const get = (p: string) => Number(rows.find((r: { period: string }) => r.period === p)?.sent ?? 0);
  return { day: get(day), month: get(month) };
}

/**
 * Seconds until a refused send of `n` recipients can fit again: the next UTC month when the monthly limit cannot take
 * it (retrying at midnight would be refused again), else the next UTC midnight, when the daily counter starts over.
 */
export async function quotaRetryAfterSec(db: Knex, user: UserRow, n: number, now: number): Promise<number> {
  const sent = await sentInPeriods(db, user.id, now);
  const monthly = Number(user.limit_monthly);
  const d = new Date(now);
  const [y, m] = [d.getUTCFullYear(), d.getUTCMonth()];
  const reset = monthly > 0 && sent.month + n > monthly ? Date.UTC(y, m + 1, 1) : Date.UTC(y, m, d.getUTCDate() + 1);
  return Math.max(1, Math.ceil((reset - now) / 1000));
}
