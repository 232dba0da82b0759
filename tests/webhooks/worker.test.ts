/**
 * The webhook worker's own bookkeeping, driven through the real worker against a loopback receiver: when it
 * leases a row, and how it prunes finished rows. Each test starts its own worker, so no other one takes its rows.
 */
import { Harness, startHarness } from '../helpers/harness';
import { OUTBOX_RETENTION_MS } from '../../src/webhooks/settings';
import { startWebhookWorker } from '../../src/webhooks/worker';
import { Receiver, startReceiver } from './receiver';
import { deliveryWebhook, outboxRows } from './outbox-fixtures';
import { waitFor } from '../helpers/sink';

let h: Harness;
let rx: Receiver;

beforeAll(async () => {
  rx = await startReceiver();
  // One call at a time and no poll but the first: a test decides when a pass runs.
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_CONCURRENCY: '1', WEBHOOK_POLL_MS: '60000', WEBHOOK_TIMEOUT_MS: '5000' });
});
afterAll(async () => {
  await h.close();
  await rx.stop();
});

const hook = (path: string) => deliveryWebhook(h, rx.url(path));

describe('leases', () => {
  it('leases each row from when the worker reaches it, not from the start of the pass', async () => {
    const webhookId = await hook('/lease');
    const ids = (await h.services.db('webhook_deliveries').insert(outboxRows(webhookId, 1, 'first'))).concat(
      await h.services.db('webhook_deliveries').insert(outboxRows(webhookId, 1, 'second')),
    );
    const leaseAt: number[] = [];
    rx.respond = async (hit) => {
      if (hit.path !== '/lease') return 200;
      const row = await h.services.db('webhook_deliveries').where({ id: ids[leaseAt.length] }).first('lease_until');
      leaseAt.push(Number(row.lease_until));
      if (leaseAt.length === 1) await new Promise((r) => setTimeout(r, 1500)); // the first call is slow
      return 200;
    };
    const worker = startWebhookWorker(h.services);
    try {
      await worker.runOnce();
    } finally {
      await worker.stop();
      rx.respond = () => 200;
    }
    expect(leaseAt).toHaveLength(2);
    // The second row waited behind the first call: its lease runs that much later, or another worker could take it mid-call.
    expect(leaseAt[1] - leaseAt[0]).toBeGreaterThanOrEqual(1400);
    expect(await h.services.db('webhook_deliveries').whereIn('id', ids).pluck('status')).toEqual(['delivered', 'delivered']);
  });
});

describe('a secret that cannot be decrypted', () => {
  it('fails the call, unsent, with a reply that says why, and retries it later like any failure', async () => {
    const webhookId = await hook('/undecryptable');
    await h.services.db('webhooks').where({ id: webhookId }).update({ secret_enc: 'v1:not-a-sealed-secret' });
    const [id] = await h.services.db('webhook_deliveries').insert(outboxRows(webhookId, 1, 'undecryptable'));
    const worker = startWebhookWorker(h.services);
    try {
      await worker.runOnce();
    } finally {
      await worker.stop();
    }
    expect(rx.hits.filter((hit) => hit.path === '/undecryptable')).toEqual([]);
    const row = await h.services.db('webhook_deliveries').where({ id }).first('status', 'attempts', 'lease_until', 'last_error', 'next_attempt_at');
    expect(row).toMatchObject({
      status: 'pending',
      attempts: 1,
      lease_until: null,
      last_error: expect.stringContaining('cannot be decrypted; check ENCRYPTION_KEY'),
    });
    expect(Number(row.next_attempt_at)).toBeGreaterThan(Date.now());
  });
});

describe('outbox prune', () => {
  it('deletes every finished row past retention in one run, however many, and keeps the rest', async () => {
    const webhookId = await hook('/prune');
    const old = Date.now() - OUTBOX_RETENTION_MS - 60_000;
    const rows = [
      ...outboxRows(webhookId, 5200, 'old', { status: 'delivered', next_attempt_at: old }), // more than one old run's 5000
      ...outboxRows(webhookId, 600, 'oldfailed', { status: 'failed', next_attempt_at: old }),
      ...outboxRows(webhookId, 3, 'recent', { status: 'delivered' }), // finished, not yet old
    ].map((r, i) => ({ ...r, event_id: `evt_prune_${webhookId}_${i}` }));
    await h.services.db.batchInsert('webhook_deliveries', rows, 40); // 40 rows of 11 values: within SQLite's 500 per statement
    const worker = startWebhookWorker(h.services);
    try {
      await worker.runOnce(); // a new worker prunes on its first pass
    } finally {
      await worker.stop();
    }
    const left: number[] = (await h.services.db('webhook_deliveries').where({ webhook_id: webhookId }).pluck('next_attempt_at')).map(Number);
    expect({ pastRetention: left.filter((t) => t <= old).length, recent: left.filter((t) => t > old).length }).toEqual({ pastRetention: 0, recent: 3 });
  });
});

describe('fair shares', () => {
  it("starts another account's call at once while one account's backlog waits on a slow receiver, and a lone account still uses the slots", async () => {
    const slow = await hook('/slow');
    const fast = await hook('/fast'); // another sender: another account
    const old = Date.now() - 60_000;
    // 300 older rows of one account: more than a window of due rows, all ahead of the other account's one.
    const backlog = outboxRows(slow, 300, 'backlog', { next_attempt_at: old }).map((r, i) => ({ ...r, event_id: `evt_fair_${slow}_${i}` }));
    await h.services.db.batchInsert('webhook_deliveries', backlog, 40);
    await h.services.db('webhook_deliveries').insert(outboxRows(fast, 1, 'fast'));
    let inFlight = 0;
    let most = 0;
    let fastAt = 0;
    rx.respond = async (hit) => {
      if (hit.path === '/fast') fastAt = Date.now();
      if (hit.path !== '/slow') return 200;
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 1500));
      inFlight -= 1;
      return 200;
    };
    const config = { ...h.services.config, webhooks: { ...h.services.config.webhooks, concurrency: 4, pollMs: 100 } };
    const started = Date.now();
    const worker = startWebhookWorker({ ...h.services, config });
    try {
      // Before: the oldest 100 due rows, all the slow account's, took every lane, 1.5 s a call.
      await waitFor(() => fastAt > 0, 10_000, "the other account's call");
      expect(fastAt - started).toBeLessThan(1000);
      // Alone, the slow account has every slot but one (kept for whoever comes next).
      await waitFor(() => most >= 3, 10_000, 'three calls at once');
      await new Promise((r) => setTimeout(r, 500));
      expect(most).toBe(3);
    } finally {
      await worker.stop();
      rx.respond = () => 200;
      await h.services.db('webhook_deliveries').where({ webhook_id: slow, status: 'pending' }).delete();
    }
  }, 30_000);
});
