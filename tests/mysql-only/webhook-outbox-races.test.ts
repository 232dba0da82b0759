/**
 * The webhook worker's two guards against a row changed between its read and its write, each race staged with a
 * row lock (MariaDB only: staging needs a statement that waits on another's lock; SQLite has one writer). The
 * test's transaction changes the row as retrywebhookcalls would and holds it uncommitted; the worker's plain read
 * still sees the old row, its write waits on the lock, the test commits, and the write then finds the row as it is.
 * - The lease matches the attempts it read: a buffered row queued again meanwhile is read afresh, not sent with the
 *   stale count.
 * - The prune re-checks status and age: a finished, old row queued again meanwhile is not deleted.
 */
import type { Knex } from 'knex';
import { openDb } from '../../src/db';
import { Harness, startHarness } from '../helpers/harness';
import { OUTBOX_RETENTION_MS } from '../../src/webhooks/settings';
import { startWebhookWorker } from '../../src/webhooks/worker';
import { Receiver, startReceiver } from '../webhooks/receiver';
import { deliveryWebhook, outboxRows } from '../webhooks/outbox-fixtures';
import { waitFor } from '../helpers/sink';

let h: Harness;
let rx: Receiver;
/** A pool of its own for watching the lock: the harness's pool is held by the test's transaction and the waiting statement. */
let watcher: Knex;

beforeAll(async () => {
  rx = await startReceiver();
  // One call at a time and no poll but the first: a test decides when a pass runs.
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_CONCURRENCY: '1', WEBHOOK_POLL_MS: '60000', WEBHOOK_TIMEOUT_MS: '5000' });
  watcher = openDb({ databaseUrl: h.services.config.databaseUrl, dataDir: h.services.config.dataDir });
});
afterAll(async () => {
  await watcher.destroy();
  await h.close();
  await rx.stop();
});

const hook = (path: string) => deliveryWebhook(h, rx.url(path));

async function outboxRow(webhookId: number, label: string, fields: Record<string, unknown>): Promise<number> {
  const [id] = await h.services.db('webhook_deliveries').insert(outboxRows(webhookId, 1, label, fields));
  return Number(id);
}

/**
 * Resolves once the worker's statement starting with `prefix` is running on the server: it cannot finish while the
 * test holds the row, so it is waiting on the lock (and the worker's read before it is done).
 */
async function waitingStatement(prefix: string): Promise<void> {
  await waitFor(
    async () => {
      const [rows] = (await watcher.raw(
        "select count(*) as n from information_schema.processlist where db = database() and command = 'Query' and info like ?",
        [`${prefix}%`],
      )) as [{ n: number }[]];
      return Number(rows[0].n) > 0;
    },
    10_000,
    `the worker's ${prefix}… waiting on the test's row lock`,
  );
}

/** What retrywebhookcalls does to a row: pending, attempts from zero, due now. */
const requeued = () => ({ status: 'pending', attempts: 0, next_attempt_at: Date.now(), lease_until: null, updated_at: Date.now() });

it('a lease matches the attempts it read: a buffered row queued again meanwhile is sent with its new count, not the stale one', async () => {
  const webhookId = await hook('/race-lease');
  const id = await outboxRow(webhookId, 'lease', { attempts: 3, next_attempt_at: Date.now() - 1000 });
  const trx = await h.services.db.transaction();
  const worker = startWebhookWorker(h.services);
  try {
    await trx('webhook_deliveries').where({ id }).update(requeued());
    const first = worker.runOnce(); // reads the row as committed (attempts 3), then its lease waits on the lock
    await waitingStatement('update `webhook_deliveries` set `lease_until`');
    await trx.commit();
    await first;
    await worker.runOnce(); // reads the row again, as it is now
  } finally {
    if (!trx.isCompleted()) await trx.rollback();
    await worker.stop();
  }
  const row = await h.services.db('webhook_deliveries').where({ id }).first('status', 'attempts');
  // Sent once, counted from the retry: attempts 1, not 4.
  expect({ status: row.status, attempts: Number(row.attempts) }).toEqual({ status: 'delivered', attempts: 1 });
  expect(rx.hits.filter((x) => x.path === '/race-lease')).toHaveLength(1);
});

it('the prune re-checks status and age: a finished, old row queued again meanwhile is kept', async () => {
  const webhookId = await hook('/race-prune');
  const id = await outboxRow(webhookId, 'prune', { status: 'failed', attempts: 8, next_attempt_at: Date.now() - OUTBOX_RETENTION_MS - 60_000 });
  const trx = await h.services.db.transaction();
  rx.respond = () => 500; // once the row is due again, its call fails and it stays pending: only the prune could remove it
  const worker = startWebhookWorker(h.services);
  try {
    await trx('webhook_deliveries').where({ id }).update(requeued());
    const pass = worker.runOnce(); // a new worker prunes on its first pass: it reads the row as failed and old, then its delete waits
    await waitingStatement('delete from `webhook_deliveries`');
    await trx.commit();
    await pass;
  } finally {
    if (!trx.isCompleted()) await trx.rollback();
    await worker.stop();
    rx.respond = () => 200;
  }
  // A locking read: the worker's poll timer may have made the waiting delete, which runOnce does not wait for; this
  // read waits behind it, then sees what it did.
  const [rows] = (await h.services.db.raw('select `status` from `webhook_deliveries` where `id` = ? lock in share mode', [id])) as [{ status: string }[]];
  expect(rows.map((r) => r.status)).toEqual(['pending']);
});
