import type { Knex } from 'knex';
import type { UserRow } from '../command';
import { isOutage } from '../outage';
import type { QuotaRefunds, Reservation } from './quota-refunds';

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

/**
 * Counts `n` sends against the user's daily and monthly limits (0 = unlimited, and then nothing is counted).
 * Each counter moves in its own single-statement transaction and only while the new total stays within the
 * limit, so concurrent sends neither overshoot nor hold a lock across the message insert (no deadlocks).
 * Returns the reservation for the caller to hand to `refunds.refund` if the send is not committed after all; null
 * when a limit would be passed. A failure part way (the day taken, then the month's statement failing) gives the day
 * back first.
 */
export async function reserveQuota(db: Knex, user: UserRow, n: number, now: number, refunds: QuotaRefunds): Promise<Reservation | null> {
  const reservation: Reservation = { user: user.id, n, taken: [] };
  const taken = reservation.taken;
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
        await refunds.refund(reservation);
        return null;
      }
      taken.push(period);
    }
  } catch (err) {
    // Through an outage the refund runs on its own: the send's answer does not wait for the store a second time.
    const refund = refunds.refund(reservation);
    if (!isOutage(err)) await refund;
    throw err;
  }
  return reservation;
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
