/**
 * The lease group hands the give-back the server threads of its tries given up on (lease-settle.ts, abandonedThread),
 * so the give-back can watch them and look again once they end (lease-giveback.ts). Through the worker's own lease
 * and a real row lock: every try of the group waits on the lock past its statement timeout.
 */
import type { Knex } from 'knex';
import { abandonedThread } from '../../src/db';
import { atStatement } from '../helpers/at-statement';
import { backend } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

// MariaDB only: SQLite has no statement timeout, so no try is given up on while it still runs.
(backend() === 'mysql' ? describe : describe.skip)('a lease group whose tries time out on a row lock', () => {
  let rig: RelayRig;
  beforeAll(async () => {
    // Short statement timeouts, so the group's five tries give up within seconds; no timed sweeps.
    rig = await startRelayRig({ DB_QUERY_TIMEOUT_MS: '600', SWEEP_INTERVAL_SECONDS: '3600' });
  });
  afterAll(() => rig?.close());

  it("has the give-back watch the server threads of the group's abandoned tries, and delivers once the lock goes", async () => {
    const { h, s, sink, worker } = rig;
    const db = h.services.db;
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: 'locked',
        ContentType: 'plain',
        PlainContent: 'body',
        From: { name: '', email: `app@${s.domain}` },
        To: [{ name: '', email: 'locked@dest.test' }],
      },
    });
    expect(res.status).toBe(200);
    await waitFor(() => sink.received.length === 1, 10_000, 'the first send');
    const id = Number((await db('deliveries').where({ message_id: res.body.MessageID }).first()).id);
    await waitFor(async () => (await db('deliveries').where({ id }).first()).status === 'delivered', 10_000, 'delivered');

    const store = h.services.store;
    const original = store.runTogether.bind(store);
    const abandoned: number[] = [];
    // Observed, not changed: the server threads the lease tries' timeouts name.
    store.runTogether = async (stmts, opts) => {
      try {
        return await original(stmts, opts);
      } catch (err) {
        const thread = abandonedThread(err);
        if (thread !== undefined && /^update `deliveries` set `lease_owner`/.test(String(stmts[0].toSQL().sql))) abandoned.push(thread);
        throw err;
      }
    };
    let watched: number[] | undefined;
    const watch = atStatement(
      db,
      'before',
      (text, bindings) => /information_schema\.`PROCESSLIST`/.test(text) && !!(watched = bindings.map(Number)),
      async () => undefined,
    );
    let locker: Knex.Transaction | undefined;
    try {
      // Due again, written by a transaction that keeps the row locked: the worker's lease of it waits on the lock.
      locker = await db.transaction();
      await locker('deliveries').where({ id }).update({ status: 'queued', next_attempt_at: Date.now(), lease_owner: '', lease_until: 0 });
      await expect(worker.deliver(id)).rejects.toMatchObject({ code: 'PROTOCOL_SEQUENCE_TIMEOUT' });
      expect(abandoned.length).toBeGreaterThanOrEqual(2); // asked again before it gave up
      await waitFor(() => watch.fired, 5000, "the give-back's look at the abandoned threads");
      expect(watched).toEqual(abandoned);
      await locker.commit();
      locker = undefined;
      await worker.deliver(id);
      await waitFor(() => sink.received.length === 2, 10_000, 'sent once the lock went');
    } finally {
      watch.restore();
      store.runTogether = original;
      await locker?.rollback().catch(() => undefined);
    }
  });
});
