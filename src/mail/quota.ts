import type { Knex } from 'knex';
import type { UserRow } from '../command';

export function periods(now: number): { day: string; month: string } {
  const iso = new Date(now).toISOString();
  return { day: `d${iso.slice(0, 10)}`, month: `m${iso.slice(0, 7)}` };
}

/**
 * Counts `n` sends against the user's daily and monthly limits (0 = unlimited) inside the caller's
 * transaction. Each counter moves only when the new total stays within its limit, so concurrent sends
 * never overshoot; false means a limit would be passed and nothing was counted.
 */
export async function consumeQuota(trx: Knex.Transaction, user: UserRow, n: number, now: number): Promise<boolean> {
  const { day, month } = periods(now);
  for (const [period, limit] of [[day, Number(user.limit_daily)], [month, Number(user.limit_monthly)]] as const) {
    await trx('usage_counters').insert({ user_id: user.id, period, sent: 0 }).onConflict(['user_id', 'period']).ignore();
    const q = trx('usage_counters').where({ user_id: user.id, period });
    if (limit > 0) q.andWhereRaw('sent + ? <= ?', [n, limit]);
    const updated = await q.increment('sent', n);
    if (!updated) return false;
  }
  return true;
}

export async function sentInPeriods(db: Knex, userId: number, now: number): Promise<{ day: number; month: number }> {
  const { day, month } = periods(now);
  const rows = await db('usage_counters').where({ user_id: userId }).whereIn('period', [day, month]);
  const get = (p: string) => Number(rows.find((r: { period: string }) => r.period === p)?.sent ?? 0);
  return { day: get(day), month: get(month) };
}
