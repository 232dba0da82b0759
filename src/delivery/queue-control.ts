import type { Knex } from 'knex';
import type { Services } from '../command';
import type { Db } from '../db';
import { failedWithoutAttempt } from '../events/event-input';
import { recordEvents } from '../events/record';
import { enqueueDeliveries } from './enqueue';
import { applyFilter, QueueFilter } from './queue-filter';
import { queueIndexOf, walkQueue } from './queue-pages';

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

const COLUMNS = ['id', 'message_id', 'user_id', 'domain_id', 'recipient', 'attempts', 'status', 'next_attempt_at', 'held_from', 'held_at'];

/** A walk's read (walkQueue) of the filter's rows; with `operatorHeldOnly`, without what a suspension holds. */
function filtered(db: Db, f: QueueFilter, now: number, operatorHeldOnly: boolean) {
  return (q: Knex.QueryBuilder) => {
    // What a suspension holds only the lift releases (suspension-hold.ts), or a suspended tenant could.
    if (operatorHeldOnly) q.whereNull('deliveries.held_by');
    return applyFilter(db, q, f, now).select(COLUMNS.map((c) => `deliveries.${c}`));
  };
}

/**
 * The filter with its SenderDomain as the domain's id (names are unique), so a walk goes along that domain's queue
 * (queueIndexOf); null when it names no domain, or another than its DomainID (nothing matches).
 */
export async function resolveSenderDomain(db: Db, f: QueueFilter): Promise<QueueFilter | null> {
  if (f.senderDomain === undefined) return f;
  const id = await db('sender_domains').where('domain', f.senderDomain).first('id');
  if (!id || (f.domainId !== undefined && f.domainId !== Number(id.id))) return null;
  return { ...f, senderDomain: undefined, domainId: Number(id.id) };
}

/**
 * Of a page's rows, those still unleased and in `statuses`, locked on MySQL until the transaction ends. Unleased: no
 * stamp at all; an expired one is still its worker's until another lease takes it over (leased.ts).
 */
async function lockFree(trx: Db, page: Row[], statuses: string[], operatorHeldOnly = false): Promise<Row[]> {
  const q = trx('deliveries')
    .whereIn(
      'id',
      page.map((r) => Number(r.id)),
    )
    .whereIn('status', statuses)
    .where('lease_until', 0);
  if (operatorHeldOnly) q.whereNull('held_by');
  q.select(COLUMNS);
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

/**
 * Queued and deferred deliveries become due now and are enqueued at once (scheduled ones keep their time). A page at a
 * time (walkQueue), each committed and enqueued before the next: a call cut short has retried part; asked again, it
 * retries them all again (harmless: each is due now either way). A row retried here and deferred by a worker before
 * the walk ends is ahead of the walk again (a later time, perhaps `deferred` after `queued`): the ids retried are
 * kept for the call (a number each), so it is retried and counted once.
 */
export async function retryNow(services: Services, given: QueueFilter): Promise<number> {
  const now = Date.now();
  const statuses = ['queued', 'deferred'];
  const f = await resolveSenderDomain(services.db, given);
  if (!f) return 0;
  const done = new Set<number>();
  await walkQueue<Row>(
    services.db,
    services.config.deleteChunkRows,
    queueIndexOf(f),
    statuses,
    filtered(services.db, f, now, false),
    async (page) => {
      const fresh = page.filter((r) => !done.has(Number(r.id)));
      if (!fresh.length) return;
      const rows = await services.db.transaction(async (trx) => {
        const found = await lockFree(trx, fresh, statuses);
        await inChunks(found, (ids) => trx('deliveries').whereIn('id', ids).whereIn('status', statuses).update({ next_attempt_at: now, updated_at: now }));
        return found;
      });
      for (const r of rows) done.add(Number(r.id));
      // `retake` gives each a fresh job id: the delivery's delayed retry job (same id otherwise) must not swallow it.
      await enqueueAfterCommit(
        services,
        rows.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts), runAt: now, retake: now })),
      );
    },
    now,
  );
  return done.size;
}

/** Waiting deliveries become `held`: no worker leases them and the sweeper passes them by until released. A page at a time. */
export async function hold(db: Db, size: number, given: QueueFilter): Promise<number> {
  const now = Date.now();
  const f = await resolveSenderDomain(db, given);
  if (!f) return 0;
  let held = 0;
  await walkQueue<Row>(db, size, queueIndexOf(f), WAITING, filtered(db, f, now, false), async (page) => {
    held += await db.transaction(async (trx) => {
      const found = await lockFree(trx, page, WAITING);
      // Grouped by the status each returns to on release, so one UPDATE per status and chunk.
      for (const status of WAITING) {
        const some = found.filter((r) => r.status === status);
        await inChunks(some, (ids) =>
          trx('deliveries').whereIn('id', ids).where('status', status).update({ status: 'held', held_from: status, held_at: now, updated_at: now }),
        );
      }
      return found.length;
    });
  });
  return held;
}

/**
 * Held deliveries return to the status they were held from, and the time held is added to `held_ms` (the age
 * limit does not count it). Those due by now are enqueued at once; the rest at their time. A page at a time, each
 * enqueued once committed.
 */
export async function release(services: Services, given: QueueFilter): Promise<number> {
  const now = Date.now();
  const f = await resolveSenderDomain(services.db, given);
  if (!f) return 0;
  let released = 0;
  const { db, config } = services;
  await walkQueue<Row>(db, config.deleteChunkRows, queueIndexOf(f), ['held'], filtered(db, f, now, true), async (page) => {
    const rows = await services.db.transaction(async (trx) => {
      const found = await lockFree(trx, page, ['held'], true);
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
    released += rows.length;
    await enqueueAfterCommit(
      services,
      rows.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts), runAt: Math.max(now, Number(r.next_attempt_at)), retake: now })),
    );
  });
  return released;
}

/** Waiting and held deliveries end as `failed`, each with a `failed` event (so webhooks and stats hear of it). A page at a time. */
export async function purge(db: Db, size: number, given: QueueFilter, who: string): Promise<number> {
  const now = Date.now();
  const f = await resolveSenderDomain(db, given);
  if (!f) return 0;
  const reply = `purged from the queue by ${who}`;
  const statuses = [...WAITING, 'held'];
  let purged = 0;
  await walkQueue<Row>(db, size, queueIndexOf(f), statuses, filtered(db, f, now, false), async (page) => {
    purged += await db.transaction(async (trx) => {
      const found = await lockFree(trx, page, statuses);
      if (!found.length) return 0;
      await inChunks(found, (ids) =>
        trx('deliveries')
          .whereIn('id', ids)
          .whereIn('status', statuses)
          .update({ status: 'failed', last_reply: reply, finished_at: now, updated_at: now, lease_until: 0, held_from: null, held_at: null, held_by: null }),
      );
      await recordEvents(
        trx,
        found.map((r) => failedWithoutAttempt(r, now, { smtp_reply: reply, purged: true })),
      );
      return found.length;
    });
  });
  return purged;
}
