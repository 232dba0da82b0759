import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { migrationSource } from '../migrations';
import type { Config } from './config';
import type { Logger } from './logger';
import { withDeadline } from './outage';

export type Db = Knex;

type DbTimeouts = Partial<Pick<Config, 'dbPoolMax' | 'dbConnectTimeoutMs' | 'dbAcquireTimeoutMs' | 'dbQueryTimeoutMs'>>;

/** Each MySQL knex instance's statement timeout (ms, 0 = none); read at every statement, so migrations can lift it. */
const queryTimeouts = new WeakMap<Knex, number>();

interface TimedConnection {
  destroy(): void;
}

/**
 * knex has no statement timeout of its own for every query, but hands `options` through to mysql2, whose
 * `timeout` abandons a statement that gets no answer (a frozen or unreachable server): every statement of this
 * instance gets one. The connection is destroyed, never reused: it may still carry the lost statement, and the
 * server rolls back whatever transaction it held.
 */
function timeStatements(db: Knex, ms: number): Knex {
  queryTimeouts.set(db, ms);
  const client = db.client as unknown as { _query(conn: TimedConnection, obj: { sql?: string; options?: object } | string): Promise<unknown> };
  const run = client._query.bind(client);
  client._query = (conn, obj) => {
    const timeout = queryTimeouts.get(db) ?? 0;
    if (!timeout) return run(conn, obj);
    const q = typeof obj === 'string' ? { sql: obj } : obj;
    return run(conn, { ...q, options: { timeout, ...q.options } }).catch((err: { code?: string }) => {
      if (err?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') conn.destroy();
      throw err;
    });
  };
  return db;
}

/**
 * knex prints its warnings (a failed connection attempt, with its stack, once per attempt) to the console: into the
 * log at debug level instead, first line only; the failure itself reaches the caller (and its 503 is logged).
 */
function knexLog(logger?: Logger): Knex.Config['log'] {
  const quiet = (m: unknown) => logger?.debug('knex', { message: String(m).split('\n')[0].slice(0, 300) });
  return { warn: quiet, error: quiet, deprecate: quiet, debug: quiet };
}

/** Opens MySQL/MariaDB when DATABASE_URL is set, else the embedded SQLite file under DATA_DIR. */
export function openDb(config: Pick<Config, 'databaseUrl' | 'dataDir'> & DbTimeouts, logger?: Logger): Db {
  if (config.databaseUrl) {
    const u = new URL(config.databaseUrl);
    const db = knexFactory({
      client: 'mysql2',
      log: knexLog(logger),
      connection: {
        host: u.hostname,
        port: u.port ? Number(u.port) : 3306,
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        database: decodeURIComponent(u.pathname.replace(/^\//, '')),
        charset: 'utf8mb4',
        timezone: 'Z',
        supportBigNumbers: true,
        connectTimeout: config.dbConnectTimeoutMs ?? 2000,
      },
      // A frozen or unreachable server answers 503 after these waits instead of holding the caller.
      acquireConnectionTimeout: config.dbAcquireTimeoutMs ?? 2000,
      pool: { min: 0, max: config.dbPoolMax ?? 20 },
    });
    return timeStatements(db, config.dbQueryTimeoutMs ?? 3000);
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: path.join(config.dataDir, 'postern.sqlite') },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: any, done: (err: Error | null, conn: unknown) => void) {
        conn.pragma('journal_mode = WAL');
        conn.pragma('foreign_keys = ON');
        conn.pragma('busy_timeout = 5000');
        done(null, conn);
      },
    },
  });
}

/** Runs the migrations with no statement timeout (an ALTER of a large table takes as long as it takes). */
export async function migrateLatest(db: Db): Promise<string[]> {
  const timeout = queryTimeouts.get(db);
  queryTimeouts.set(db, 0);
  try {
    const [, applied] = await db.migrate.latest({ migrationSource });
    return applied as string[];
  } finally {
    if (timeout !== undefined) queryTimeouts.set(db, timeout);
  }
}

/** Cheap liveness probe used by /readyz: answers (or fails) within `ms` whatever the database does. */
export async function pingDb(db: Db, ms = 1500): Promise<void> {
  await withDeadline(Promise.resolve(db.raw('select 1')), ms, 'the database');
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e?.code === 'ER_DUP_ENTRY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * A statement written as SQL with `?` placeholders and its values, used on MySQL by the hot group-commit paths:
 * it skips the query builder's compile step (a measured tenth of the SMTP front's CPU). Values are still bound
 * by the driver, never spliced in by hand; identifiers come from code, never from input.
 */
export class Sql {
  constructor(
    readonly q: Knex | Knex.Transaction,
    readonly sql: string,
    readonly bindings: unknown[],
  ) {}
  toSQL(): { sql: string; bindings: unknown[] } {
    return { sql: this.sql, bindings: this.bindings };
  }
  /** Runs it alone (outside the batch pool): the driver's result, as the batch pool gives it. */
  async run(): Promise<unknown> {
    const [result] = (await this.q.raw(this.sql, this.bindings as Knex.RawBinding[])) as unknown as [unknown];
    return result;
  }
}

/** Rows an UPDATE touched: mysql2 answers a ResultSetHeader (or [header, …]) with affectedRows, better-sqlite3 { changes }. */
export function affectedRows(result: unknown): number {
  const r = (Array.isArray(result) ? result[0] : result) as { affectedRows?: number; changes?: number } | undefined;
  return Number(r?.affectedRows ?? r?.changes ?? 0);
}

/** A statement built but not yet run (knex builders and raws are lazy until awaited). */
export type Stmt = Knex.QueryBuilder | Knex.Raw | Sql;

export function isMysql(db: Knex | Knex.Transaction): boolean {
  return (db as Knex).client.config.client === 'mysql2';
}

/** A backtick-quoted identifier (for names written in code, never for input). */
export const quoteId = (c: string): string => '`' + c + '`';

/**
 * One SQL text for both databases (backtick identifiers and `?` placeholders are understood by MySQL and by
 * SQLite): plain on MySQL, a knex raw elsewhere.
 */
export function sql(q: Knex | Knex.Transaction, text: string, bindings: unknown[]): Stmt {
  return isMysql(q) ? new Sql(q, text, bindings) : q.raw(text, bindings as Knex.RawBinding[]);
}

/** `(?, ?, …)` with n placeholders, for IN lists. */
export function placeholders(n: number): string {
  return `(${new Array(n).fill('?').join(', ')})`;
}

/**
 * A multi-row INSERT on MySQL as plain SQL, or null when the rows do not all have the same columns in the same
 * order (or leave one undefined): those need the builder, which fills the gaps. `suffix` follows the VALUES list.
 */
export function mysqlInsert(q: Knex | Knex.Transaction, table: string, rows: Record<string, unknown>[], suffix?: string): Sql | null {
  if (!isMysql(q) || !rows.length) return null;
  const cols = Object.keys(rows[0]);
  const bindings: unknown[] = [];
  for (const r of rows) {
    const k = Object.keys(r);
    if (k.length !== cols.length) return null;
    for (let i = 0; i < cols.length; i++) {
      const v = r[cols[i]];
      if (k[i] !== cols[i] || v === undefined) return null;
      bindings.push(v);
    }
  }
  const tuple = placeholders(cols.length);
  const text = `insert into ${quoteId(table)} (${cols.map(quoteId).join(', ')}) values ${new Array(rows.length).fill(tuple).join(', ')}`;
  return new Sql(q, suffix ? `${text} ${suffix}` : text, bindings);
}

/** A multi-row INSERT: plain SQL on MySQL where the rows allow it, the query builder otherwise. */
export function insertRows(q: Knex | Knex.Transaction, table: string, rows: Record<string, unknown>[]): Stmt {
  return mysqlInsert(q, table, rows) ?? q(table).insert(rows);
}

/** Runs statements in order and returns each one's result; on MySQL in one round trip. */
export type RunTogether = (stmts: Stmt[]) => Promise<unknown[]>;

/** Runs one read statement and gives its rows (inside a BatchTx, through its connection). */
export type Read = (stmt: Stmt) => Promise<unknown>;

export const runInTurn: RunTogether = async (stmts) => {
  const out: unknown[] = [];
  for (const s of stmts) out.push(s instanceof Sql ? await s.run() : await s);
  return out;
};

const batchPools = new WeakMap<Knex, Knex>();

/**
 * MySQL only: a small second pool whose connections take several statements per round trip, used by the
 * group-commit paths alone (builder-made or `Sql` statements: values always bound, never spliced into text).
 */
function batchPool(db: Knex): Knex | null {
  if (db.client.config.client !== 'mysql2') return null;
  let pool = batchPools.get(db);
  if (!pool) {
    const cfg = db.client.config as Knex.Config;
    const connection = { ...(cfg.connection as Record<string, unknown>), multipleStatements: true };
    pool = timeStatements(knexFactory({ ...cfg, connection, pool: { min: 0, max: 8 } } as Knex.Config), queryTimeouts.get(db) ?? 0);
    batchPools.set(db, pool);
  }
  return pool;
}

/**
 * A transaction for the group-commit paths. `q` builds statements; `run` sends statements whose results the
 * caller needs; `later` queues writes whose results nobody reads, to go with the next `run` or with the COMMIT.
 * On MySQL everything sent at once is one round trip on one connection of the multi-statement pool: START
 * TRANSACTION rides with the first `run`, the queued writes with COMMIT, so a group that reads once costs two
 * round trips. On SQLite (in-process) the statements simply run in turn inside a knex transaction.
 */
export interface BatchTx {
  q: Knex | Knex.Transaction;
  run(stmts: Stmt[]): Promise<unknown[]>;
  later(stmts: Stmt[]): void;
}

export async function batchTransaction<T>(db: Knex, fn: (tx: BatchTx) => Promise<T>): Promise<T> {
  const pool = batchPool(db);
  const pending: Stmt[] = [];
  if (!pool) {
    return db.transaction(async (trx) => {
      const tx: BatchTx = {
        q: trx,
        run: async (stmts) => {
          await runInTurn(pending.splice(0));
          return runInTurn(stmts);
        },
        later: (stmts) => void pending.push(...stmts),
      };
      const out = await fn(tx);
      await runInTurn(pending.splice(0));
      return out;
    });
  }
  const conn = await pool.client.acquireConnection();
  let begun = false;
  const send = async (stmts: Stmt[], commit: boolean): Promise<unknown[]> => {
    const head = begun ? [] : [pool.raw('START TRANSACTION')];
    begun = true;
    const all = [...head, ...pending.splice(0), ...stmts, ...(commit ? [pool.raw('COMMIT')] : [])];
    const results = await runJoined(pool, all, conn);
    return results.slice(all.length - stmts.length - (commit ? 1 : 0), all.length - (commit ? 1 : 0));
  };
  try {
    const out = await fn({ q: pool, run: (stmts) => send(stmts, false), later: (stmts) => void pending.push(...stmts) });
    if (begun || pending.length) await send([], true);
    return out;
  } catch (err) {
    if (begun)
      await pool
        .raw('ROLLBACK')
        .connection(conn)
        .catch(() => undefined);
    throw err;
  } finally {
    await pool.client.releaseConnection(conn);
  }
}

/** Outside a transaction: the statements in one round trip, each autocommitted in order. */
export function runTogether(db: Knex, stmts: Stmt[]): Promise<unknown[]> {
  const pool = batchPool(db);
  return pool ? runJoined(pool, stmts) : runInTurn(stmts);
}

/** About what a statement weighs on the wire (hex for binary), to keep each joined packet well under max_allowed_packet. */
function weight(p: Knex.Sql): number {
  let n = p.sql.length;
  for (const b of p.bindings as unknown[]) n += Buffer.isBuffer(b) ? b.length * 2 + 3 : typeof b === 'string' ? b.length * 2 + 2 : 8;
  return n;
}
const PACKET_BUDGET = 4 << 20;

interface RawConnection {
  query(opts: { sql: string; timeout?: number }, bindings: unknown[], cb: (err: (Error & { code?: string }) | null, results: unknown) => void): void;
  destroy(): void;
}

/**
 * Sends the statements joined, in as few packets as the budget allows, straight to the driver (each statement's
 * SQL is made once; the driver binds the values). `connection` is a connection the caller holds (its
 * transaction's); without one, one is taken from the pool for the call.
 */
async function runJoined(pool: Knex, stmts: Stmt[], connection?: unknown): Promise<unknown[]> {
  const conn = (connection ?? (await pool.client.acquireConnection())) as RawConnection;
  try {
    const parts = stmts.map((s) => s.toSQL() as Knex.Sql);
    const out: unknown[] = [];
    for (let i = 0; i < parts.length;) {
      let j = i;
      let bytes = 0;
      while (j < parts.length && (j === i || bytes + weight(parts[j]) <= PACKET_BUDGET)) bytes += weight(parts[j++]);
      const group = parts.slice(i, j);
      const sql = group.map((p) => p.sql).join(';\n');
      const bindings = group.flatMap((p) => p.bindings as unknown[]);
      // mysql2 answers one statement's result, or an array of results for several. A timed-out connection is
      // destroyed as in timeStatements (the pool drops it).
      const timeout = queryTimeouts.get(pool) || undefined;
      const results = await new Promise<unknown>((resolve, reject) =>
        conn.query({ sql, timeout }, bindings, (err, res) => {
          if (err?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') conn.destroy();
          return err ? reject(err) : resolve(res);
        }),
      );
      if (group.length === 1) out.push(results);
      else out.push(...(results as unknown[]));
      i = j;
    }
    return out;
  } finally {
    if (!connection) await pool.client.releaseConnection(conn);
  }
}

/** Closes the database and its batch pool. */
export async function closeDb(db: Knex): Promise<void> {
  await Promise.allSettled([db.destroy(), batchPools.get(db)?.destroy()]);
  batchPools.delete(db);
}
