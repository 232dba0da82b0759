/**
 * A lease is its stamp, not a status (issue 15; bench/README 2026-12-05 "a lease that leaves the status alone"): the
 * lease UPDATE writes only `lease_until`, `lease_owner` and `updated_at`, so none of the five secondary indexes that
 * hold `status` changes when a worker takes a row, only when its outcome is settled. A delivery is being sent
 * ('sending' to every reader: message status, queue.list's `leased`, queue depth) while it waits in one of WAITING
 * with a stamp (`lease_until` > 0, live or expired: an expired one is still its worker's until the sweeper's grace
 * passes and another lease takes it). Earlier releases stored the lease as status 'sending' (no migration marks the
 * change); such a row (left by a worker of an older release during a rolling upgrade) reads as leased too, and is
 * leased again, settled or given back as any other, so no migration rewrites them.
 */
import type { Knex } from 'knex';
import { isMysql, type Db } from '../db';

/** The statuses a delivery waits in; one of them with a stamp is leased. */
export const WAITING = ['queued', 'scheduled', 'deferred'];

/** The status earlier releases stored a lease as (see above); never written now. */
export const STORED_SENDING = 'sending';

/** What every reader shows for a delivery's stored `status` and `lease_until`. */
export function shownStatus(d: { status: string; lease_until?: number | string | null }): string {
  return WAITING.includes(d.status) && Number(d.lease_until ?? 0) > 0 ? STORED_SENDING : d.status;
}

/** shownStatus in SQL over the deliveries row `alias` (a table name or alias written by this code, never input). */
export function shownStatusSql(alias: string): string {
  return `(case when ${alias}.status in ('queued', 'scheduled', 'deferred') and ${alias}.lease_until > 0 then 'sending' else ${alias}.status end)`;
}

/** Whether the deliveries row `alias` is leased (shows 'sending'), in SQL. */
export function leasedSql(alias: string): string {
  return `(${alias}.status = 'sending' or (${alias}.status in ('queued', 'scheduled', 'deferred') and ${alias}.lease_until > 0))`;
}

/**
 * The index on the stamp (migration 20270108000100): the readers of "leased" read the `lease_until` > 0 range, as
 * many rows as are leased, not the waiting backlog around them. Every leased row has a stamp: this release's lease
 * writes one, an earlier release's wrote status 'sending' with its stamp in the same UPDATE, and each write that
 * clears a stamp (settle, give back, cancel, fail) writes the status too. Holds and cancels take unstamped rows only.
 */
export const LEASE_INDEX = 'deliveries_lease_idx';

/**
 * `deliveries` narrowed to stamped rows, read along LEASE_INDEX, named to each planner (SQLite's INDEXED BY, MariaDB's
 * FORCE INDEX as the queue walks name theirs). Unnamed, SQLite took the user's (user_id, status, …) range, or with
 * statistics scanned (message_id) for a DISTINCT; MariaDB took the stamp's index by itself (EXPLAIN, 300,000 rows),
 * named so that a tenant's alike rows cannot turn it to a status index as they did the walks. The caller adds the
 * statuses (a stamp on a waiting row, or stored 'sending').
 */
export function stampedDeliveries(db: Db): Knex.QueryBuilder {
  const along = isMysql(db) ? '?? force index (??)' : '?? indexed by ??';
  return db.from(db.raw(along, ['deliveries', LEASE_INDEX])).where('deliveries.lease_until', '>', 0);
}
