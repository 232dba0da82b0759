/**
 * A lease give-back that looks twice (src/delivery/lease-giveback.ts: the group's abandoned statement stamped the row
 * again after the first look) enqueues the second time under a job id of its own. Before, both used the same id (the
 * delivery, its attempts and the stamp), so while the first job was still waiting or running the second add was
 * silently skipped, and the mail waited up to LEASE_SECONDS for the sweeper. And a watch that runs out of time says how
 * many rows it gave back, instead of "not given back" after a first look that gave them all back.
 */
import { createConnection } from 'mysql2';
import { DELIVERY_QUEUE } from '../../src/delivery/enqueue';
import { createLeaseGiveBack } from '../../src/delivery/lease-giveback';
import { createDeliveryWorker } from '../../src/delivery/worker';
import { backend } from '../helpers/harness';
import { capturingLogger } from '../helpers/log-lines';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

// MariaDB only: the give-back watches server threads (its second look) there alone.
(backend() === 'mysql' ? describe : describe.skip)('a lease give-back that looks twice', () => {
  let rig: RelayRig;
  beforeAll(async () => {
    // No timed sweeps: only the give-back's jobs can bring the row back within the test.
    rig = await startRelayRig({ SWEEP_INTERVAL_SECONDS: '3600', LEASE_SECONDS: '300' });
  });
  afterAll(() => rig?.close());

  /** What the sink received for `tag` (each test's own recipient: another test's late job cannot count here). */
  const sent = (tag: string) => rig.sink.received.filter((m) => m.to.includes(`${tag}@dest.test`)).length;

  /**
   * One message delivered through the API; its row is then stamped 'sending' for 'me' until `until`, due at `due`
   * (a row given back not due is left alone by its job).
   */
  async function stampedRow(tag: string, until: number, due = Date.now()): Promise<number> {
    const { h, s } = rig;
    const db = h.services.db;
    const res = await h.request('POST', '/api/v1/email', {
      headers: { Authorization: `Bearer ${s.key}` },
      body: {
        Subject: tag,
        ContentType: 'plain',
        PlainContent: 'body',
        From: { name: '', email: `app@${s.domain}` },
        To: [{ name: '', email: `${tag}@dest.test` }],
      },
    });
    expect(res.status).toBe(200);
    await waitFor(() => sent(tag) === 1, 10_000, 'the first send');
    const row = await db('deliveries').where({ message_id: res.body.MessageID }).first();
    await db('deliveries').where({ id: row.id }).update({ status: 'sending', lease_owner: 'me', lease_until: until, next_attempt_at: due });
    return Number(row.id);
  }

  /** An idle connection of its own: a server thread the give-back watches until it ends. */
  async function thread() {
    const conn = createConnection(rig.h.services.config.databaseUrl!);
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    return conn;
  }

  it('says how many rows it gave back when its watch runs out of time', async () => {
    const { h } = rig;
    const { logger, lines } = capturingLogger('info');
    // The stamp runs out within the watch's first few waits (200, 400, 800 ms) while the thread stays.
    const until = Date.now() + 1500;
    // Not due for an hour: the job of its give-back leaves it alone (it would be sent during the next test otherwise).
    const id = await stampedRow('watch', until, Date.now() + 3_600_000);
    const conn = await thread();
    const giveBacks = createLeaseGiveBack({ services: { ...h.services, logger }, owner: 'me' });
    try {
      giveBacks.giveBack([id, id + 1_000_000], until, [conn.threadId!]);
      await waitFor(() => lines.some((l) => /lease group/.test(l) && JSON.parse(l).level === 'warn'), 5000, 'the watch to run out');
      const warned = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 'warn');
      expect(warned).toEqual([expect.objectContaining({ givenBack: 1, mayRemain: 1 })]);
      expect(warned[0].message).not.toMatch(/not given back/);
    } finally {
      giveBacks.stop();
      conn.destroy();
    }
  });

  // Last: it stops the rig's worker.
  it('enqueues its second give-back beside the first job still waiting, and the row is sent once', async () => {
    const { h } = rig;
    const db = h.services.db;
    const queue = h.services.queues.queue(DELIVERY_QUEUE);
    const until = Date.now() + 60_000;
    const id = await stampedRow('again', until);
    // No consumer: the first give-back's job stays waiting, as one not yet taken (or still running) does.
    await rig.worker.stop();
    const base = await queue.waiting();
    const conn = await thread();
    const giveBacks = createLeaseGiveBack({ services: h.services, owner: 'me' });
    let worker: ReturnType<typeof createDeliveryWorker> | undefined;
    try {
      giveBacks.giveBack([id], until, [conn.threadId!]);
      await waitFor(async () => (await db('deliveries').where({ id }).first()).status === 'deferred', 10_000, 'the first give-back');
      // Enqueued after its UPDATE committed: waited for, not read at once.
      await waitFor(async () => (await queue.waiting()) === base + 1, 10_000, 'the first job');
      // The group's abandoned statement commits late, stamping the row again, and its thread ends.
      await new Promise<void>((resolve, reject) =>
        conn.query("update `deliveries` set `status` = 'sending', `lease_owner` = 'me', `lease_until` = ? where `id` = ?", [until, id], (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      conn.destroy();
      await waitFor(async () => (await db('deliveries').where({ id }).first()).lease_owner === '', 10_000, 'the second give-back');
      // Its own job, not swallowed by the first one's id.
      await waitFor(async () => (await queue.waiting()) === base + 2, 10_000, 'the second job');
      // Both jobs run: the row is leased by the first, and sent once.
      worker = createDeliveryWorker(h.services, {});
      await waitFor(async () => (await db('deliveries').where({ id }).first()).status === 'delivered', 10_000, 'delivered');
      await waitFor(async () => (await queue.waiting()) === base, 10_000, 'both jobs run');
      await new Promise((r) => setTimeout(r, 500));
      expect(sent('again')).toBe(2); // the first send, and this one
    } finally {
      giveBacks.stop();
      conn.destroy();
      await worker?.stop();
    }
  });
});
