import { isMysql, type Db } from '../db';
import { hourOf } from '../stats/rollups';
import { type Counts, GUARD_TYPES, type GuardedDomain, type HourRow, startOf, sumFrom, WINDOW_HOURS } from './reputation-figures';

/**
 * A deleted domain's hours still in the guard's window, kept for its owner
 * (migrations/20261227000100_retained_reputation_hours.ts): else deleting a domain about to be suspended took its bad
 * hours out of the account's figures, and its siblings (or the name added again) escaped the account's verdict.
 * The guard reads them as the hours of one more domain of the account, id KEPT_DOMAIN.
 */
export const KEPT_DOMAIN = 0;

/**
 * In the deleting transaction, before the rollups cascade away: one INSERT … SELECT, added into the hours already kept
 * from earlier deletions. Only from the domain's own start (its last lift), the lift's hour net of its base
 * (countFrom): outcomes a lift forgave stay forgiven, those after it are kept.
 */
export async function retainHours(trx: Db, domain: GuardedDomain, now: number): Promise<void> {
  const addUp = isMysql(trx)
    ? 'on duplicate key update retained_reputation_hours.count = retained_reputation_hours.count + values(count)'
    : 'on conflict (user_id, bucket, type) do update set count = count + excluded.count';
  // The account's hours past the window go first: with the guard off (no pass prunes) the table still stays bounded.
  await trx('retained_reputation_hours')
    .where({ user_id: domain.user_id })
    .where('bucket', '<', hourOf(now) - WINDOW_HOURS + 1)
    .delete();
  const start = startOf(domain, now);
  // The row's base: its type's in the start's hour, 0 elsewhere (and without a base). Compared before it is
  // subtracted, as count is unsigned on MariaDB.
  const base = `case when bucket = ? then case type ${GUARD_TYPES.map(() => 'when ? then ?').join(' ')} else 0 end else 0 end`;
  const baseArgs = [start.hour, ...GUARD_TYPES.flatMap((t) => [t, start.base?.[t] ?? 0])];
  await trx.raw(
    'insert into retained_reputation_hours (user_id, bucket, type, count) ' +
      `select ?, bucket, type, count - ${base} from stats_rollup where domain_id = ? and unit = 'h' and bucket >= ? ` +
      `and count > ${base} and type in (${GUARD_TYPES.map(() => '?').join(', ')}) ${addUp}`,
    [domain.user_id, ...baseArgs, domain.id, start.hour, ...baseArgs, ...GUARD_TYPES],
  );
}

/**
 * Every account's kept hours in the window, as rows of domain KEPT_DOMAIN, and their sums. One read a pass: the table
 * holds at most a day of hours of the accounts that deleted a domain that day.
 */
export async function keptHours(db: Db, now: number): Promise<{ rows: Map<number, HourRow[]>; sums: Map<number, Counts> }> {
  const start = hourOf(now) - WINDOW_HOURS + 1;
  const all: (Omit<HourRow, 'domain_id'> & { user_id: number })[] = await db('retained_reputation_hours')
    .where('bucket', '>=', start)
    .select('user_id', 'bucket', 'type', 'count');
  const rows = new Map<number, HourRow[]>();
  for (const { user_id, ...r } of all) {
    const u = Number(user_id);
    (rows.get(u) ?? rows.set(u, []).get(u)!).push({ ...r, domain_id: KEPT_DOMAIN });
  }
  return { rows, sums: new Map([...rows].map(([u, rs]) => [u, sumFrom(rs, () => ({ hour: start, base: null }))])) };
}

/** Hours past the window count for nothing: pruned by each guard pass, which reads the table anyway. */
export async function pruneKeptHours(db: Db, now: number): Promise<void> {
  await db('retained_reputation_hours')
    .where('bucket', '<', hourOf(now) - WINDOW_HOURS + 1)
    .delete();
}
