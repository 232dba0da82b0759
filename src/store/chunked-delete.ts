import type { Knex } from 'knex';

/**
 * Large deletions a run of rows at a time. One DELETE of a 1,000,000-member list took 13.5 s on MariaDB, far past
 * DB_QUERY_TIMEOUT_MS, which now bounds statements inside transactions too: each run here is one short indexed read
 * and one short transaction, so no statement grows with the set (DELETE_CHUNK_ROWS rows each). Between runs other
 * requests get the tables (and SQLite's one connection) back.
 */

/** Reads the next at most `limit` rows after `after` (null: from the start), in the order of an index. */
export type NextRun<R> = (after: R | null, limit: number) => Promise<R[]>;

/**
 * Hands every run `next` reads to `remove`, in a transaction of its own, until a run comes back short. With a reader
 * that resumes at its last row itself (idsByColumn), `remove` must delete every row it is handed. Rows added behind
 * the walk are the caller's to take in its closing transaction. Returns the number of rows handed over.
 */
export async function removeInRuns<R>(
  db: Knex,
  size: number,
  next: NextRun<R>,
  remove: (trx: Knex.Transaction, rows: R[]) => Promise<unknown>,
): Promise<number> {
  let after: R | null = null;
  let total = 0;
  for (;;) {
    const rows = await next(after, size);
    if (rows.length) await db.transaction((trx) => remove(trx, rows));
    total += rows.length;
    if (rows.length < size) return total;
    after = rows[rows.length - 1];
  }
}

/** Values of `key` in `scope`, in key order: needs an index on (scope's columns, key). */
export function keysInOrder<K extends string | number>(db: Knex, table: string, key: string, scope: Record<string, unknown>): NextRun<K> {
  return (after, limit) => {
    const q = db(table).where(scope);
    if (after !== null) q.where(key, '>', after);
    return q.orderBy(key).limit(limit).pluck(key) as Promise<K[]>;
  };
}

export interface Positioned {
  id: string | number;
  pos: number;
}

export const idsOf = (rows: Positioned[]): (string | number)[] => rows.map((r) => r.id);

/**
 * Ids of `table` in `scope` in the order of `column` (not unique; an index on (scope's columns, column) serves it).
 * The walk resumes at the last run's value itself, not after it: rows sharing it that the run did not reach are still
 * there, while the ones it read are deleted by then. Not from the start each time either: InnoDB keeps deleted entries
 * in the index until its purge catches up, and a read from the start would step over all of them again.
 */
export function idsByColumn(db: Knex, table: string, column: string, scope: Record<string, unknown>): NextRun<Positioned> {
  return async (after, limit) => {
    const q = db(table).where(scope);
    if (after) q.where(column, '>=', after.pos);
    const rows = (await q.orderBy(column).limit(limit).select('id', `${column} as pos`)) as Positioned[];
    return rows.map((r) => ({ id: r.id, pos: Number(r.pos) }));
  };
}
