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

export type Tuple = Record<string, unknown>;

/**
 * `cols` compared as one key with `t`, `op` deciding at the last column, the strict form before it: (c1 > v1) or
 * (c1 = v1 and (c2 > v2 or …)), spelled out, as MariaDB reads no range from a row constructor. Led by c1 >= v1 (or
 * <=), a range of the index.
 */
function keyCompare(q: Knex.QueryBuilder, cols: string[], t: Tuple, op: '>' | '>=' | '<' | '<='): Knex.QueryBuilder {
  const up = op[0] === '>';
  const strict = up ? '>' : '<';
  const v = (i: number) => t[cols[i]] as Knex.Value;
  const nest = (w: Knex.QueryBuilder, i: number): Knex.QueryBuilder =>
    i === cols.length - 1 ? w.where(cols[i], op, v(i)) : w.where(cols[i], strict, v(i)).orWhere((x) => x.where(cols[i], v(i)).where((y) => nest(y, i + 1)));
  return q.where(cols[0], up ? '>=' : '<=', v(0)).where((w) => nest(w, 0));
}

/**
 * Rows of `table` in `scope` (narrowed by `narrow`) as their key `cols`, in key order: for tables keyed by several
 * columns (the statistics rollups, the kept suppressions), whose scope's columns and `cols` make a unique index.
 */
export function tuplesInOrder(
  db: Knex,
  table: string,
  cols: string[],
  scope: Record<string, unknown>,
  narrow?: (q: Knex.QueryBuilder) => void,
): NextRun<Tuple> {
  return (after, limit) => {
    const q = db(table).where(scope);
    narrow?.(q);
    if (after) q.where((w) => keyCompare(w, cols, after, '>'));
    return q.orderBy(cols).limit(limit).select(cols) as Promise<Tuple[]>;
  };
}

/** The rows of a run read by tuplesInOrder: the key range from its first to its last (what joined it since goes too). */
export function tupleRange(q: Knex.QueryBuilder, cols: string[], rows: Tuple[]): Knex.QueryBuilder {
  return q.where((w) => keyCompare(w, cols, rows[0], '>=')).where((w) => keyCompare(w, cols, rows[rows.length - 1], '<='));
}

/** Every row of `table` in `scope` (and `narrow`), a key range of at most `size` rows a statement (tuplesInOrder). */
export function removeTuplesInRuns(
  db: Knex,
  size: number,
  table: string,
  cols: string[],
  scope: Record<string, unknown>,
  narrow?: (q: Knex.QueryBuilder) => void,
) {
  return removeInRuns(db, size, tuplesInOrder(db, table, cols, scope, narrow), (trx, rows) => {
    const q = trx(table).where(scope);
    narrow?.(q);
    return tupleRange(q, cols, rows).delete();
  });
}
