import type { Knex } from 'knex';
import { isMysql, type Db } from '../db';

/** What a walk needs of each row to go on from it. */
export interface Paged {
  id: number;
  next_attempt_at: number;
}

/** The index a walk goes along: its (…, status, next_attempt_at) range holds every row the walk may meet. */
export type QueueIndex = 'deliveries_domain_queue_idx' | 'deliveries_user_queue_idx' | 'deliveries_rcpt_queue_idx' | 'deliveries_status_next_attempt_at_index';

/**
 * The narrowest such index for a walk of a domain's, a user's, a recipient domain's (the admin's) or every tenant's
 * queue; none for one delivery by id (its primary key). A user's walk by recipient domain may take either of two,
 * the planner choosing the smaller range: the user's queue, or every tenant's rows to that domain. A walk along
 * anything else reads a range in another order and sorts it on every page, or reads every tenant's queue.
 */
export function queueIndexOf(scope: { userId?: number; domainId?: number; deliveryId?: number; recipientDomain?: string }): QueueIndex[] {
  if (scope.deliveryId !== undefined) return [];
  if (scope.domainId !== undefined) return ['deliveries_domain_queue_idx'];
  if (scope.userId !== undefined)
    return scope.recipientDomain !== undefined ? ['deliveries_user_queue_idx', 'deliveries_rcpt_queue_idx'] : ['deliveries_user_queue_idx'];
  return scope.recipientDomain !== undefined ? ['deliveries_rcpt_queue_idx'] : ['deliveries_status_next_attempt_at_index'];
}

/**
 * `deliveries` read along `indexes`, named to MySQL (FORCE INDEX): with a filter beside the scope (a domain, a
 * recipient domain, held_by) MariaDB took (status, next_attempt_at), every tenant's queue, or an index out of order
 * and a sort of its range (EXPLAIN, bench/queue-walk.ts). SQLite's planner takes the scope's index by itself.
 */
export function deliveriesAlong(db: Db, indexes: QueueIndex[]): Knex.QueryBuilder {
  if (!indexes.length || !isMysql(db)) return db('deliveries');
  return db.from(db.raw(`?? force index (${indexes.map(() => '??').join(', ')})`, ['deliveries', ...indexes]));
}

/**
 * Hands the deliveries a read names to `each`, a page of at most `size` at a time (each page the caller's own short
 * transaction), one status after another, each walked in (next_attempt_at, id) order along the index `along` names
 * (queueIndexOf). One statement over a big tenant's queue, inside a transaction, outlasted DB_QUERY_TIMEOUT_MS and
 * answered 503 every time. The walk goes on after the last row read, never from the start again (InnoDB keeps the
 * entries a page changed until its purge catches up), so `each` may change the rows' status. A change that moves rows
 * to a time (queue.retry) gives it as `split`: the walk reads the rows from it on first (one moved there is behind the
 * walk), then those before it (one moved is out of the range). A row someone else moves meanwhile (a worker defers
 * it, to a later time and perhaps a later status) may be met again: an `each` that counts must skip what it did.
 * Pages are read with no lock: `each` locks its rows by id and checks them again; answering false, it ends the walk.
 */
export async function walkQueue<R extends Paged>(
  db: Db,
  size: number,
  along: QueueIndex[],
  statuses: string[],
  read: (q: Knex.QueryBuilder) => Knex.QueryBuilder,
  each: (rows: R[]) => Promise<void | false>,
  split?: number,
): Promise<void> {
  const ranges: [number | null, number | null][] =
    split === undefined
      ? [[null, null]]
      : [
          [split, null],
          [null, split],
        ];
  for (const status of statuses)
    for (const [from, below] of ranges) {
      let after: R | null = null;
      for (;;) {
        const q = read(deliveriesAlong(db, along).where('deliveries.status', status));
        if (from !== null) q.where('deliveries.next_attempt_at', '>=', from);
        if (below !== null) q.where('deliveries.next_attempt_at', '<', below);
        if (after) {
          const { id, next_attempt_at: at } = after;
          q.where('deliveries.next_attempt_at', '>=', at).where((w) => w.where('deliveries.next_attempt_at', '>', at).orWhere('deliveries.id', '>', id));
        }
        const rows = (await q.orderBy([{ column: 'deliveries.next_attempt_at' }, { column: 'deliveries.id' }]).limit(size)) as R[];
        if (rows.length && (await each(rows)) === false) return;
        if (rows.length < size) break;
        after = rows[rows.length - 1];
      }
    }
}
