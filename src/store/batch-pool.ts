import type { Knex } from 'knex';
import { abandonStatement, BatchTx, knexFactory, runInTurn, Sql, statementTimeout, Stmt, timeStatements } from '../db';

/**
 * MySQL only: a small second pool whose connections take several statements per round trip, used by the
 * group-commit paths alone (builder-made or `Sql` statements: values always bound, never spliced into text).
 * Made on first use from the main database's settings; on SQLite every call runs in turn on the main database.
 */
export class BatchPool {
  private pool: Knex | null = null;
  private closed = false;
  private step: Promise<number | null> | null = null;

  constructor(private readonly db: Knex) {}

  private multi(): Knex | null {
    if (this.db.client.config.client !== 'mysql2') return null;
    // A closed store makes no new pool (nothing would close it); the main database refuses as well by then.
    if (this.closed) throw new Error('the batch pool is closed');
    if (!this.pool) {
      const cfg = this.db.client.config as Knex.Config;
      // Big inserts go as prepared statements (see runJoined); each connection keeps few, so shapes that come and go
      // (a batch of 137 rows) stay well under the server's max_prepared_stmt_count.
      const connection = { ...(cfg.connection as Record<string, unknown>), multipleStatements: true, maxPreparedStatements: PREPARED_PER_CONNECTION };
      this.pool = timeStatements(knexFactory()({ ...cfg, connection, pool: { min: 0, max: 8 } } as Knex.Config), statementTimeout(this.db));
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
    if (!pool) return this.inTurn(fn);
    const idStep = await this.idStep(pool);
    // InnoDB rolled the whole transaction back and named it the victim of a deadlock: it is safe to run again, and
    // the other side has usually finished by then. Groups from two accept flushes (or settle groups) in flight can
    // meet so; without a retry every send of the group got a 503.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(pool, idStep, fn);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ER_LOCK_DEADLOCK' || attempt >= DEADLOCK_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, attempt * 5 + Math.random() * 10));
      }
    }
  }

  /**
   * The server's auto-increment step when a simple multi-row INSERT is given consecutive ids (BatchTx.idStep), read
   * once: `innodb_autoinc_lock_mode` 0 or 1 (MariaDB's default is 1); 2 (interleaved, as Galera requires) gives no
   * such promise, and the ids are read back.
   */
  private idStep(pool: Knex): Promise<number | null> {
    this.step ??= pool.raw('select @@innodb_autoinc_lock_mode as m, @@auto_increment_increment as i').then(
      ([rows]: [{ m: number | string; i: number | string }[]]) => (Number(rows[0].m) <= 1 ? Number(rows[0].i) : null),
      (err: unknown) => {
        this.step = null; // asked again next time: the transaction that needed it fails on the same outage anyway
        throw err;
      },
    );
    return this.step;
  }

  private inTurn<T>(fn: (tx: BatchTx) => Promise<T>): Promise<T> {
    const pending: Stmt[] = [];
    return this.db.transaction(async (trx) => {
      const run = async (stmts: Stmt[]) => {
        await runInTurn(pending.splice(0));
        return runInTurn(stmts);
      };
      const tx: BatchTx = { q: trx, run, later: (stmts) => void pending.push(...stmts), commit: run, idStep: null };
      const out = await fn(tx);
      await runInTurn(pending.splice(0));
      return out;
    });
  }

  private async once<T>(pool: Knex, idStep: number | null, fn: (tx: BatchTx) => Promise<T>): Promise<T> {
    const pending: Stmt[] = [];
    const conn = await pool.client.acquireConnection();
    let begun = false;
    let committed = false;
    // Plain `Sql`, not knex raws: these ride with every group commit, and a raw's toSQL was the biggest knex frame in a worker profile.
    const send = async (stmts: Stmt[], commit: boolean): Promise<unknown[]> => {
      if (committed) throw new Error('the batch transaction is already committed');
      committed = commit;
      const head = begun ? [] : [new Sql(pool, 'START TRANSACTION', [])];
      begun = true;
      const all = [...head, ...pending.splice(0), ...stmts, ...(commit ? [new Sql(pool, 'COMMIT', [])] : [])];
      const results = await runJoined(pool, all, conn);
      return results.slice(all.length - stmts.length - (commit ? 1 : 0), all.length - (commit ? 1 : 0));
    };
    try {
      const out = await fn({
        q: pool,
        run: (stmts) => send(stmts, false),
        later: (stmts) => void pending.push(...stmts),
        commit: (stmts) => send(stmts, true),
        idStep,
      });
      if (!committed && (begun || pending.length)) await send([], true);
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

  /**
   * Opens `connections` connections of the multi-statement pool and reads the auto-increment step, so that the first
   * group commits after start-up do not each pay a connection handshake and a settings read (MySQL only; the pool
   * keeps idle connections for its idle timeout, 30 s). A failure is the caller's to report: the first group
   * commit would open them again.
   */
  async warm(connections: number): Promise<void> {
    const pool = this.multi();
    if (!pool) return;
    await this.idStep(pool);
    const held = await Promise.all(Array.from({ length: connections }, () => pool.client.acquireConnection() as Promise<unknown>));
    await Promise.all(held.map((c) => pool.client.releaseConnection(c)));
  }

  /**
   * Outside a transaction: the statements in one round trip, each autocommitted in order. `timeoutMs` replaces the
   * pool's statement timeout for this call (MySQL; SQLite has none).
   */
  runTogether(stmts: Stmt[], opts: { timeoutMs?: number } = {}): Promise<unknown[]> {
    const pool = this.multi();
    return pool ? runJoined(pool, stmts, undefined, opts.timeoutMs) : runInTurn(stmts);
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
/** Tries of a batch transaction chosen as a deadlock's victim, the first included. */
const DEADLOCK_ATTEMPTS = 3;
const PREPARED_PER_CONNECTION = 32;

/**
 * A multi-row INSERT this big goes alone on the binary protocol (mysql2 `execute`): its values are written into the
 * packet as they are (strings as UTF-8, Buffers raw) instead of being escaped into SQL text (Buffers as hex at twice
 * their size) that the server then parses again; that text was a tenth of the batch route's CPU and much of its
 * garbage. "Big" is 256 KiB of text, or 4,000 values: the batch route's fixed-size chunks (200 messages, 500
 * deliveries or events). Not fewer values: preparing costs a round trip and a metadata packet per placeholder
 * (mysql2 parses each), paid again for every row count a connection has not kept, and the worker's settle groups
 * (up to 200 events of any count) cost about 8 % more worker CPU per delivery that way in alternating runs.
 * A prepared statement takes at most 65,535 values.
 */
const BINARY_MIN_WEIGHT = 256 << 10;
const BINARY_MIN_VALUES = 4000;
const BINARY_MAX_VALUES = 65_535;

function goesBinary(s: Stmt, p: Knex.Sql): boolean {
  if (!(s instanceof Sql) || !s.scalarValues) return false;
  const n = p.bindings.length;
  return n <= BINARY_MAX_VALUES && (n >= BINARY_MIN_VALUES || weight(p) >= BINARY_MIN_WEIGHT);
}

type Callback = (err: (Error & { code?: string }) | null, results: unknown) => void;

interface RawConnection {
  query(opts: { sql: string; timeout?: number }, bindings: unknown[], cb: Callback): void;
  execute(opts: { sql: string; timeout?: number }, bindings: unknown[], cb: Callback): void;
  destroy(): void;
  threadId?: number | null;
}

/**
 * Sends the statements in order: runs of ordinary ones joined, in as few packets as the budget allows, straight to
 * the driver (each statement's SQL is made once; the driver binds the values), and big inserts alone as prepared
 * statements (see goesBinary). `connection` is a connection the caller holds (its transaction's); without one, one
 * is taken from the pool for the call. `timeoutMs`: each statement's own timeout instead of the pool's.
 */
async function runJoined(pool: Knex, stmts: Stmt[], connection?: unknown, timeoutMs?: number): Promise<unknown[]> {
  const conn = (connection ?? (await pool.client.acquireConnection())) as RawConnection;
  // A timed-out connection is destroyed as in timeStatements (the pool drops it). mysql2 times out a query but
  // ignores `timeout` for execute, so the statement's own timer does the same for both: one error, one code.
  const timeout = timeoutMs ?? statementTimeout(pool);
  const send = (how: 'query' | 'execute', sql: string, bindings: unknown[]) =>
    new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const timer = timeout
        ? setTimeout(() => {
            settled = true;
            const abandonedThreadId = conn.threadId; // read before the connection is destroyed (see abandonedThread)
            abandonStatement(pool, conn);
            reject(
              Object.assign(new Error(`the database did not answer within ${timeout} ms`), {
                code: 'PROTOCOL_SEQUENCE_TIMEOUT',
                fatal: true,
                abandonedThreadId,
              }),
            );
          }, timeout)
        : null;
      conn[how]({ sql }, bindings, (err, res) => {
        if (timer) clearTimeout(timer);
        if (settled) return;
        settled = true;
        return err ? reject(err) : resolve(res);
      });
    });
  try {
    const parts = stmts.map((s) => s.toSQL() as Knex.Sql);
    const binary = stmts.map((s, i) => goesBinary(s, parts[i]));
    const out: unknown[] = [];
    for (let i = 0; i < parts.length;) {
      if (binary[i]) {
        out.push(await send('execute', parts[i].sql, parts[i].bindings as unknown[]));
        i += 1;
        continue;
      }
      let j = i;
      let bytes = 0;
      while (j < parts.length && !binary[j] && (j === i || bytes + weight(parts[j]) <= PACKET_BUDGET)) bytes += weight(parts[j++]);
      const group = parts.slice(i, j);
      const sql = group.map((p) => p.sql).join(';\n');
      const bindings = group.flatMap((p) => p.bindings as unknown[]);
      // mysql2 answers one statement's result, or an array of results for several.
      const results = await send('query', sql, bindings);
      if (group.length === 1) out.push(results);
      else out.push(...(results as unknown[]));
      i = j;
    }
    return out;
  } finally {
    if (!connection) await pool.client.releaseConnection(conn);
  }
}
