/**
 * A withheld body's read (lease-settle.ts readWithheld) had the fixed DB_QUERY_TIMEOUT_MS of the hot path's short
 * statements: a 25 MiB body on a loaded server could outlast it on every try, each try thrown away and killed, until
 * the lease went back unsent. Its timeout now grows with the body's length (body-read-timeout.ts).
 */
import type { Knex } from 'knex';
import type { Stmt } from '../../src/db';
import { statementTimeout } from '../../src/db';
import { BODY_READ_MAX_MS, bodyReadTimeoutMs } from '../../src/delivery/body-read-timeout';
import { backend } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

const MIB = 1 << 20;

describe('bodyReadTimeoutMs', () => {
  it('adds 500 ms per MiB begun to the statement timeout, up to 30 s, and keeps "no timeout"', () => {
    expect(bodyReadTimeoutMs(3000, 0)).toBe(3000);
    expect(bodyReadTimeoutMs(3000, 1)).toBe(3500);
    expect(bodyReadTimeoutMs(3000, MIB)).toBe(3500);
    expect(bodyReadTimeoutMs(3000, MIB + 1)).toBe(4000);
    expect(bodyReadTimeoutMs(3000, 25 * MIB)).toBe(15_500);
    expect(bodyReadTimeoutMs(3000, 1024 * MIB)).toBe(BODY_READ_MAX_MS);
    // An operator's longer DB_QUERY_TIMEOUT_MS is never shortened; 0 (none) stays none.
    expect(bodyReadTimeoutMs(60_000, 25 * MIB)).toBe(60_000);
    expect(bodyReadTimeoutMs(0, 25 * MIB)).toBe(0);
  });
});

// MariaDB only: SQLite has no statement timeout (and one connection, so no row lock to wait on).
(backend() === 'mysql' ? describe : describe.skip)('a withheld body read on a server slower than DB_QUERY_TIMEOUT_MS', () => {
  let rig: RelayRig;
  beforeAll(async () => {
    // 1.5 s per statement; a 1 MiB budget (256 KiB a delivery), so the 3.5 MB body below is read on its own.
    rig = await startRelayRig({
      DB_QUERY_TIMEOUT_MS: '1500',
      DELIVERY_CONCURRENCY: '4',
      DELIVERY_MAX_BYTES_IN_FLIGHT: String(MIB),
      RETRY_SCHEDULE_SECONDS: '60',
      SWEEP_INTERVAL_SECONDS: '3600',
    });
  });
  afterAll(() => rig?.close());

  const isWithheldRead = (stmts: Stmt[]) => /^update `deliveries` set `lease_until` = \?/.test(String(stmts[0]?.toSQL().sql));

  it('waits past DB_QUERY_TIMEOUT_MS for a 3.5 MB body (1.5 s + 4 x 0.5 s), reading it once', async () => {
    const { h, s, sink } = rig;
    const db = h.services.db;
    expect(statementTimeout(db)).toBe(1500);
    const HOLD_MS = 2500; // past 1.5 s, well inside the body's 3.5 s
    const store = h.services.store;
    const original = store.runTogether.bind(store);
    const reads: { ms: number; error?: string }[] = [];
    let locker: Knex.Transaction | undefined;
    // The read's first try meets a row lock held by another connection for HOLD_MS: a server slow to answer it, made
    // on the server itself. The read is observed, not changed.
    store.runTogether = async (stmts, opts) => {
      if (!isWithheldRead(stmts)) return original(stmts, opts);
      const id = (stmts[0].toSQL().bindings as unknown[])[1];
      if (!locker) {
        locker = await db.transaction();
        await locker('deliveries').where({ id }).forUpdate().select('id');
        const held = locker;
        setTimeout(() => void held.commit(), HOLD_MS);
      }
      const began = Date.now();
      try {
        const out = await original(stmts, opts);
        reads.push({ ms: Date.now() - began });
        return out;
      } catch (err) {
        reads.push({ ms: Date.now() - began, error: (err as Error).message });
        throw err;
      }
    };
    try {
      const res = await h.request('POST', '/api/v1/email', {
        headers: { Authorization: `Bearer ${s.key}` },
        body: {
          Subject: 'Big',
          ContentType: 'plain',
          PlainContent: 'x'.repeat(3_500_000),
          From: { name: '', email: `app@${s.domain}` },
          To: [{ name: '', email: 'slow-read@dest.test' }],
        },
      });
      expect(res.status).toBe(200);
      await waitFor(() => sink.received.some((m) => m.to[0] === 'slow-read@dest.test'), 20_000, 'the message at the sink');
      // One read, answered once the lock went (not thrown away at 1.5 s, killed and asked again).
      expect(reads).toHaveLength(1);
      expect(reads[0].error).toBeUndefined();
      expect(reads[0].ms).toBeGreaterThanOrEqual(HOLD_MS - 200);
      const row = await db('deliveries').where({ message_id: res.body.MessageID }).first();
      await waitFor(async () => (await db('deliveries').where({ id: row.id }).first()).status === 'delivered', 10_000, 'delivered');
    } finally {
      store.runTogether = original;
      await locker?.commit().catch(() => undefined);
    }
  });
});
