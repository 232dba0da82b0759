import knexFactory, { Knex } from 'knex';
import { BatchTx, runInTurn, statementTimeout, Stmt, timeStatements } from '../db';

/**
 * MySQL only: a small second pool whose connections take several statements per round trip, used by the
 * group-commit paths alone (builder-made or `Sql` statements: values always bound, never spliced into text).
 * Made on first use from the main database's settings; on SQLite every call runs in turn on the main database.
 */
export class BatchPool {
  private pool: Knex | null = null;
  private closed = false;

  constructor(private readonly db: Knex) {}

  private multi(): Knex | null {
    if (this.db.client.config.client !== 'mysql2') return null;
    // A closed store makes no new pool (nothing would close it); the main database refuses as well by then.
    if (this.closed) throw new Error('the batch pool is closed');
    if (!this.pool) {
      const cfg = this.db.client.config as Knex.Config;
      const connection = { ...(cfg.connection as Record<string, unknown>), multipleStatements: true };
      this.pool = timeStatements(knexFactory({ ...cfg, connection, pool: { min: 0, max: 8 } } as Knex.Config), statementTimeout(this.db));
    }
    return this.pool;
  }

  /**
   * A transaction for the group-commit paths (see BatchTx). On MySQL everything sent at once is one round trip
   * on one connection of the multi-statement pool: START TRANSACTION rides with the first `run`, the queued
   * writes with COMMIT. On SQLite the statements run in turn inside a knex transaction.
   */
  async transaction<T>(fn: (tx: BatchTx) => Promise<T>): Promise<T> {
    const pool = this.multi();
    const pending: Stmt[] = [];
    if (!pool) {
      return this.db.transaction(async (trx) => {
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
  runTogether(stmts: Stmt[]): Promise<unknown[]> {
    const pool = this.multi();
    return pool ? runJoined(pool, stmts) : runInTurn(stmts);
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.closed = true;
    this.pool = null;
    await pool?.destroy();
  }
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
      const timeout = statementTimeout(pool) || undefined;
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
