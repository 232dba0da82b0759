import type { Knex } from 'knex';
import { unionOfReads } from '../db';
import { PENDING } from './worker-ctx';

export interface DueUnleased {
  id: number;
  attempts: number;
  next_attempt_at: number;
  lease_until: number;
}

/**
 * The `limit` longest-due pending deliveries due by `before` and not leased past it, for the sweeper: per status, an
 * ordered read of the (status, next_attempt_at) index that stops at the limit, merged here. One read over all four
 * statuses could not follow the index's order, so it read and sorted every due row to keep the first 5,000: with a
 * backlog of queued rows waiting for free workers, that was every sweep (SWEEP_INTERVAL_SECONDS) in every worker.
 */
export async function dueUnleased(db: Knex, before: number, limit: number): Promise<DueUnleased[]> {
  const reads = PENDING.map((status) =>
    db('deliveries')
      .where('status', status)
      .where('next_attempt_at', '<=', before)
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', before))
      .orderBy('next_attempt_at')
      .limit(limit)
      .select('id', 'attempts', 'next_attempt_at', 'lease_until'),
  );
  const rows: DueUnleased[] = await unionOfReads(db, reads);
  return rows.sort((a, b) => Number(a.next_attempt_at) - Number(b.next_attempt_at)).slice(0, limit);
}
