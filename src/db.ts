import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { migrationSource } from '../migrations';
import type { Config } from './config';

export type Db = Knex;

/** Opens MySQL/MariaDB when DATABASE_URL is set, else the embedded SQLite file under DATA_DIR. */
export function openDb(config: Pick<Config, 'databaseUrl' | 'dataDir'> & { dbPoolMax?: number }): Db {
  if (config.databaseUrl) {
    const u = new URL(config.databaseUrl);
    return knexFactory({
      client: 'mysql2',
      connection: {
        host: u.hostname,
        port: u.port ? Number(u.port) : 3306,
        user: decodeURIComponent(u.username),
        password: decodeURIComponent(u.password),
        database: decodeURIComponent(u.pathname.replace(/^\//, '')),
        charset: 'utf8mb4',
        timezone: 'Z',
        supportBigNumbers: true,
      },
      pool: { min: 0, max: config.dbPoolMax ?? 20 },
    });
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

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = await db.migrate.latest({ migrationSource });
  return applied as string[];
}

/** Cheap liveness probe used by /readyz. */
export async function pingDb(db: Db): Promise<void> {
  await db.raw('select 1');
}

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e?.code === 'ER_DUP_ENTRY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** A statement built but not yet run (knex builders and raws are lazy until awaited). */
export type Stmt = Knex.QueryBuilder | Knex.Raw;
/** Runs statements in order and returns each one's result; on MySQL in one round trip. */
export type RunTogether = (stmts: Stmt[]) => Promise<unknown[]>;

/** Runs one read statement and gives its rows (inside a BatchTx, through its connection). */
export type Read = (stmt: Stmt) => Promise<unknown>;

export const runInTurn: RunTogether = async (stmts) => {
  const out: unknown[] = [];
  for (const s of stmts) out.push(await s);
  return out;
};

const batchPools = new WeakMap<Knex, Knex>();

/**
 * MySQL only: a small second pool whose connections take several statements per round trip, used by the
 * group-commit paths alone (all their SQL is builder-made, values always bound, never spliced into text).
 */
function batchPool(db: Knex): Knex | null {
  if (db.client.config.client !== 'mysql2') return null;
  let pool = batchPools.get(db);
  if (!pool) {
    const cfg = db.client.config as Knex.Config;
    const connection = { ...(cfg.connection as Record<string, unknown>), multipleStatements: true };
    pool = knexFactory({ ...cfg, connection, pool: { min: 0, max: 8 } } as Knex.Config);
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
    if (begun) await pool.raw('ROLLBACK').connection(conn).catch(() => undefined);
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

async function runJoined(conn: Knex | Knex.Transaction, stmts: Stmt[], connection?: unknown): Promise<unknown[]> {
  const parts = stmts.map((s) => s.toSQL() as Knex.Sql);
  const out: unknown[] = [];
  for (let i = 0; i < parts.length; ) {
    let j = i;
    let bytes = 0;
    while (j < parts.length && (j === i || bytes + weight(parts[j]) <= PACKET_BUDGET)) bytes += weight(parts[j++]);
    const group = parts.slice(i, j);
    const sql = group.map((p) => p.sql).join(';\n');
    const bindings = group.flatMap((p) => p.bindings as Knex.RawBinding[]);
    // mysql2 answers [result, fields] for one statement and [results per statement, fields per statement] for several.
    const raw = conn.raw(sql, bindings);
    const [results] = (await (connection ? raw.connection(connection) : raw)) as unknown as [unknown];
    if (group.length === 1) out.push(results);
    else out.push(...(results as unknown[]));
    i = j;
  }
  return out;
}

/** Closes the database and its batch pool. */
export async function closeDb(db: Knex): Promise<void> {
  await Promise.allSettled([db.destroy(), batchPools.get(db)?.destroy()]);
  batchPools.delete(db);
}
