import type { Services } from '../command';
import type { Db } from '../db';
import { failedWithoutAttempt } from '../events/event-input';
import { recordEvents } from '../events/record';
import { enqueueDeliveries } from './enqueue';
import { applyFilter, QueueFilter } from './queue-filter';

/**
 * Queue control (issue 17 §4): retry, hold, release and purge deliveries that are waiting. None of them touches a
 * delivery a worker holds a lease on (it is talking SMTP right now; its outcome decides); each changes rows with
 * conditions that a worker's lease UPDATE also checks, so the two never both win.
 */

/** Waiting for a worker, not held. */
const WAITING = ['queued', 'scheduled', 'deferred'];
/** How many rows one statement changes at most (bound parameter lists stay small). */
const CHUNK = 500;

interface Row {
  id: number;
  message_id: string;
  user_id: number;
  domain_id: number;
  recipient: string;
  attempts: number;
  status: string;
  next_attempt_at: number;
  held_from: string | null;
  held_at: number | null;
}

/** Unleased rows in `statuses` matching the filter, locked on MySQL until the transaction ends. */
async function selectFree(trx: Db, f: QueueFilter, statuses: string[], now: number, operatorHeldOnly = false): Promise<Row[]> {
  const base = trx('deliveries').whereIn('deliveries.status', statuses);
  // What a suspension holds only the lift releases (suspension-hold.ts), or a suspended tenant could.
  if (operatorHeldOnly) base.whereNull('deliveries.held_by');
  const q = applyFilter(trx, base, f, now)
    .where((w) => w.whereNull('deliveries.lease_until').orWhere('deliveries.lease_until', '<', now))
    .select('id', 'message_id', 'user_id', 'domain_id', 'recipient', 'attempts', 'status', 'next_attempt_at', 'held_from', 'held_at');
  return (trx.client.config.client === 'mysql2' ? await q.forUpdate() : await q) as Row[];
}

async function inChunks(rows: Row[], each: (ids: number[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) await each(rows.slice(i, i + CHUNK).map((r) => Number(r.id)));
}

/**
 * The change is committed: its answer is the rows it moved, whatever the queue does. A queue that cannot take the jobs
 * (Redis away) leaves them to the sweeper, as an accept does; answering 503 told the caller to retry a change that had
 * already happened (and the retry found nothing left to do).
 */
async function enqueueAfterCommit(services: Services, jobs: Parameters<typeof enqueueDeliveries>[1]): Promise<void> {
  await enqueueDeliveries(services, jobs).catch((err) =>
    services.logger.warn('enqueue failed; the sweeper will pick the deliveries up', { deliveries: jobs.length, error: (err as Error).message }),
  );
}

/** Queued and deferred deliveries become due now and are enqueued at once (scheduled ones keep their time). */
export async function retryNow(services: Services, f: QueueFilter): Promise<number> {
  const now = Date.now();
  const rows = await services.db.transaction(async (trx) => {
    const found = await selectFree(trx, f, ['queued', 'deferred'], now);
    await inChunks(found, (ids) =>
      trx('deliveries').whereIn('id', ids).whereIn('status', ['queued', 'deferred']).update({ next_attempt_at: now, updated_at: now }),
    );
    return found;
  });
  // `retake` gives each a fresh job id: the delivery's delayed retry job (same id otherwise) must not swallow it.
  await enqueueAfterCommit(
    services,
    rows.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts), runAt: now, retake: now })),
  );
  return rows.length;
}

/** Waiting deliveries become `held`: no worker leases them and the sweeper passes them by until released. */
export async function hold(db: Db, f: QueueFilter): Promise<number> {
  const now = Date.now();
  return db.transaction(async (trx) => {
    const found = await selectFree(trx, f, WAITING, now);
    // Grouped by the status each returns to on release, so one UPDATE per status and chunk.
    for (const status of WAITING) {
      const some = found.filter((r) => r.status === status);
      await inChunks(some, (ids) =>
        trx('deliveries').whereIn('id', ids).where('status', status).update({ status: 'held', held_from: status, held_at: now, updated_at: now }),
      );
    }
    return found.length;
  });
}

/**
 * Held deliveries return to the status they were held from, and the time held is added to `held_ms` (the age
 * limit does not count it). Those due by now are enqueued at once; the rest at their time.
 */
export async function release(services: Services, f: QueueFilter): Promise<number> {
  const now = Date.now();
  const rows = await services.db.transaction(async (trx) => {
    const found = await selectFree(trx, f, ['held'], now, true);
    await inChunks(found, (ids) =>
      trx('deliveries')
        .whereIn('id', ids)
        .where('status', 'held')
        .whereNull('held_by')
        .update({
          // Rows held before held_from existed cannot occur (the status came with it); 'queued' is the safe default.
          status: trx.raw("coalesce(held_from, 'queued')"),
          held_ms: trx.raw('held_ms + (? - coalesce(held_at, ?))', [now, now]),
          held_from: null,
          held_at: null,
          updated_at: now,
        }),
    );
    return found;
  });
  await enqueueAfterCommit(
    services,
    rows.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts), runAt: Math.max(now, Number(r.next_attempt_at)), retake: now })),
  );
  return rows.length;
}

/** Waiting and held deliveries end as `failed`, each with a `failed` event (so webhooks and stats hear of it). */
export async function purge(db: Db, f: QueueFilter, who: string): Promise<number> {
  const now = Date.now();
  const reply = `purged from the queue by ${who}`;
  return db.transaction(async (trx) => {
    const found = await selectFree(trx, f, [...WAITING, 'held'], now);
    if (!found.length) return 0;
    await inChunks(found, (ids) =>
      trx('deliveries')
        .whereIn('id', ids)
        .whereIn('status', [...WAITING, 'held'])
        .update({ status: 'failed', last_reply: reply, finished_at: now, updated_at: now, lease_until: null, held_from: null, held_at: null, held_by: null }),
    );
    await recordEvents(
      trx,
      found.map((r) => failedWithoutAttempt(r, now, { smtp_reply: reply, purged: true })),
    );
    return found.length;
  });
}
