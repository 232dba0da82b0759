import type { Knex } from 'knex';
import type { Db } from '../db';

/** What a walk needs of each row to go on from it. */
export interface Paged {
  id: number;
  next_attempt_at: number;
}

/**
 * Hands the deliveries a read names to `each`, a page of at most `size` at a time (each page the caller's own short
 * transaction), one status after another, each walked in (next_attempt_at, id) order: along deliveries_user_queue_idx
 * when the read names a user (every tenant's does), else (status, next_attempt_at). One statement over a big tenant's
 * queue, inside a transaction, outlasted DB_QUERY_TIMEOUT_MS and answered 503 every time. The walk goes on after the
 * last row read, never from the start again (InnoDB keeps the entries a page changed until its purge catches up), so
 * `each` may change the rows' status. A change that moves rows to a time (queue.retry) gives it as `split`: the walk
 * reads the rows from it on first (one moved there is behind the walk), then those before it (one moved is out of
 * the range), so no row is met twice.
 * Pages are read with no lock: `each` locks its rows by id and checks them again; answering false, it ends the walk.
 */
export async function walkQueue<R extends Paged>(
  db: Db,
  size: number,
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
        const q = read(db('deliveries').where('deliveries.status', status));
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
