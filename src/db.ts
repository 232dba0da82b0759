import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import type { migrationSource as MigrationSource } from '../migrations';
import type { Config } from './config';
import type { Logger } from './logger';
import { withDeadline } from './outage';
import { lazy } from './lazy';

export type Db = Knex;

/** knex (~70 files) loads when a database is opened, not with this file: a CLI run that opens none (call --list) skips it. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by the import type above
export const knexFactory = lazy(() => (require('knex') as typeof import('knex')).knex);

type DbTimeouts = Partial<Pick<Config, 'dbPoolMax' | 'dbConnectTimeoutMs' | 'dbAcquireTimeoutMs' | 'dbQueryTimeoutMs'>>;

/** Where a knex instance keeps its statement timeout (ms, 0 = none): on the instance, read at every statement, so migrations can lift it. */
const STATEMENT_TIMEOUT = Symbol('postern.statementTimeoutMs');
interface TimeoutState {
  ms: number;
  killing?: boolean;
  /** Connections given up on (abandonStatement): what a transaction still sends on one (its ROLLBACK) is answered here. */
  abandoned: WeakSet<TimedConnection>;
}
type Timed = Knex & { [STATEMENT_TIMEOUT]?: TimeoutState };

/** This instance's statement timeout (ms, 0 = none). */
export function statementTimeout(db: Knex): number {
  return (db as Timed)[STATEMENT_TIMEOUT]?.ms ?? 0;
}

interface TimedConnection {
  destroy(): void;
  /** The server's id of this connection (mysql2). */
  threadId?: number | null;
}

/**
 * Gives up on a statement the database did not answer in time: the connection is destroyed, and the server is asked
 * to stop the statement. Closing the connection alone does not: MariaDB runs it to its end, so a report over millions
 * of rows kept the database busy long after its caller had its 503, and every retry added another. One kill at a
 * time per instance: when the server itself is away the kill times out too, and must not take more of the pool.
 */
export function abandonStatement(db: Knex, conn: TimedConnection): void {
  const id = conn.threadId;
  conn.destroy();
  const state = (db as Timed)[STATEMENT_TIMEOUT];
  if (!state || state.killing || !Number.isSafeInteger(id) || db.client.config.client !== 'mysql2') return;
  state.killing = true;
  db.raw(`KILL QUERY ${Number(id)}`)
    .catch(() => undefined)
    .finally(() => (state.killing = false));
}

/**
 * The server thread of a statement given up on (a timeout error of the batch pool, src/store/batch-pool.ts): it may
 * still be running there, and commit, since the kill abandonStatement sends is best effort (one at a time, and it
 * needs the server to answer). Undefined for any other error.
 */
export function abandonedThread(err: unknown): number | undefined {
  const id = (err as { abandonedThreadId?: unknown } | null)?.abandonedThreadId;
  return typeof id === 'number' && Number.isSafeInteger(id) ? id : undefined;
}

/** The driver side of a knex client: where every statement of it, and of a transaction it begins, is sent. */
interface DriverClient {
  _query(conn: TimedConnection, obj: { sql?: string; options?: object } | string): Promise<unknown>;
  transaction(...args: unknown[]): object;
}

/**
 * knex has no statement timeout of its own for every query, but hands `options` through to mysql2, whose
 * `timeout` abandons a statement that gets no answer (a frozen or unreachable server, a row lock held elsewhere):
 * every statement of this instance gets one, inside transactions too (timeClient). The connection is destroyed,
 * never reused: it may still carry the lost statement, and the server rolls back whatever transaction it held; the
 * statement itself is killed (abandonStatement).
 */
export function timeStatements(db: Knex, ms: number): Knex {
  const state: TimeoutState = { ms, abandoned: new WeakSet() };
  (db as Timed)[STATEMENT_TIMEOUT] = state;
  timeClient(db, db.client as unknown as DriverClient, state);
  return db;
}

function timeClient(db: Knex, client: DriverClient, state: TimeoutState): void {
  const run = client._query.bind(client);
  client._query = (conn, obj) => {
    // The server rolled the transaction back when the connection closed: the caller keeps the timeout as its error
    // (knex would otherwise reject with the ROLLBACK's "connection is closed", which reads as an internal error).
    if (state.abandoned.has(conn) && /^ROLLBACK\b/i.test(typeof obj === 'string' ? obj : (obj?.sql ?? ''))) return Promise.resolve(undefined);
    const timeout = state.ms;
    if (!timeout) return run(conn, obj);
    const q = typeof obj === 'string' ? { sql: obj } : obj;
    return run(conn, { ...q, options: { timeout, ...q.options } }).catch((err: { code?: string }) => {
      if (err?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') {
        state.abandoned.add(conn);
        abandonStatement(db, conn);
      }
      throw err;
    });
  };
  // knex runs a transaction's statements on a client it makes from the dialect's prototype, not from this client,
  // once the transaction has its connection: the patch above would not reach them (nor a nested transaction's), so
  // each such client is timed as the transaction is given it.
  const begin = client.transaction;
  client.transaction = function (this: DriverClient, ...args: unknown[]) {
    const trx = begin.apply(this, args);
    let trxClient: DriverClient | undefined;
    Object.defineProperty(trx, 'trxClient', {
      configurable: true,
      get: () => trxClient,
      set: (c: DriverClient | undefined) => {
        if (c) timeClient(db, c, state);
        trxClient = c;
      },
    });
    return trx;
  };
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
    const db = knexFactory()({
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
  return knexFactory()({
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
  const state = (db as Timed)[STATEMENT_TIMEOUT];
  const timeout = state?.ms ?? 0;
  if (state) state.ms = 0;
  try {
    // Read here, not at import: a process (or a test file) on a migrated store never loads the ~25 migration files.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
    const { migrationSource } = require('../migrations') as { migrationSource: typeof MigrationSource };
    const [, applied] = await db.migrate.latest({ migrationSource });
    return applied as string[];
  } finally {
    if (state) state.ms = timeout;
  }
}

/**
 * Several ordered, LIMITed reads as one UNION ALL statement, each wrapped as a derived table (SQLite takes no ORDER
 * BY or LIMIT on a bare member of a compound SELECT). The "first few of each key" reads use it: each member walks
 * an index in order and stops at its limit, where one read over all the keys would read and sort every match.
 */
export function unionOfReads(db: Knex, reads: Knex.QueryBuilder[]): Knex.QueryBuilder {
  const [first, ...rest] = reads.map((read, i) => db.select('*').from(read.as(`u${i}`)));
  return rest.length ? first.unionAll(rest) : first;
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
    /** Every value is a scalar (string, number, boolean, null, Buffer): the batch pool may send it as a prepared statement. */
    readonly scalarValues = false,
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

/** Ids past which SQLite gets them as one JSON array: well under its 32,766 bound values a statement (SQLITE_MAX_VARIABLE_NUMBER). */
const SQLITE_IDS_INLINE = 10_000;

/**
 * `column IN (ids)` for lists of any length (an account's list ids: list creation has no cap). SQLite refuses a
 * statement with more than 32,766 bound values, so a longer list goes as one JSON array read by json_each; mysql2
 * writes values into the statement's text, which has no such limit.
 */
export function whereInIds(db: Knex | Knex.Transaction, q: Knex.QueryBuilder, column: string, ids: number[]): Knex.QueryBuilder {
  if (ids.length <= SQLITE_IDS_INLINE || isMysql(db)) return q.whereIn(column, ids);
  return q.whereRaw('?? IN (SELECT value FROM json_each(?))', [column, JSON.stringify(ids)]);
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
  return new Sql(q, suffix ? `${text} ${suffix}` : text, bindings, bindings.every(isScalar));
}

const isScalar = (v: unknown): boolean => v === null || typeof v !== 'object' || Buffer.isBuffer(v);

/** A multi-row INSERT: plain SQL on MySQL where the rows allow it, the query builder otherwise. */
export function insertRows(q: Knex | Knex.Transaction, table: string, rows: Record<string, unknown>[]): Stmt {
  return mysqlInsert(q, table, rows) ?? q(table).insert(rows);
}

/** Runs statements in order and returns each one's result; on MySQL in one round trip. */
export type RunTogether = (stmts: Stmt[]) => Promise<unknown[]>;

/** Runs one read statement and gives its rows (inside a BatchTx, through its connection). */
export type Read = (stmt: Stmt) => Promise<unknown>;

/** Read's default outside a transaction: a `Sql` runs itself (it is not thenable), a knex builder or raw is awaited. */
export const readAlone: Read = async (stmt) => (stmt instanceof Sql ? await stmt.run() : await stmt);

export const runInTurn: RunTogether = async (stmts) => {
  const out: unknown[] = [];
  for (const s of stmts) out.push(s instanceof Sql ? await s.run() : await s);
  return out;
};

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
  /**
   * Sends the queued writes and these statements with the COMMIT (one round trip on MySQL) and gives these
   * statements' results: the transaction is over, nothing may be run after it. On SQLite they run in turn and
   * the knex transaction commits when the callback returns.
   */
  commit(stmts: Stmt[]): Promise<unknown[]>;
  /**
   * Set when a multi-row INSERT's auto-increment ids are known from its result alone: the first is the result's
   * insertId and each next row's is `idStep` more (InnoDB's consecutive or traditional lock mode, which gives a
   * simple INSERT consecutive values; `auto_increment_increment` is the step). Null: read the ids back.
   */
  idStep: number | null;
}

/** Closes a database opened with openDb (the store closes its own batch pool: src/store/batch-pool.ts). */
export async function closeDb(db: Knex): Promise<void> {
  await db.destroy();
}

/**
 * A LIKE pattern that matches `text` anywhere, its own %, _ and ! taken literally, for `like ? escape '!'`: '!', not
 * a backslash, which MariaDB and SQLite string literals treat differently.
 */
export function containsPattern(text: string): string {
  return `%${text.replace(/[!%_]/g, (c) => '!' + c)}%`;
}
