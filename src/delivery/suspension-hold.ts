import type { Services } from '../command';
import type { Knex } from 'knex';
import { isMysql, type Db } from '../db';
import { STATUS } from '../domains/domains';
import { enqueueDeliveries } from './enqueue';
import { SUSPENSION } from './held-by';
import { walkQueue } from './queue-pages';

/**
 * A suspended sender domain's queued mail waits with it (docs/reputation-guard.md): suspension holds the domain's
 * waiting deliveries, lifting it releases them. They are `held` as by queue.hold (no worker leases them, the sweeper
 * does not re-enqueue them, DELIVERY_MAX_AGE_SECONDS does not count the time), marked `held_by = 'suspension'` so that
 * only the lift releases them. They do not wait for ever: one held longer than SUSPENSION_HOLD_MAX_SECONDS (5 days)
 * is failed by the sweeper (suspension-expiry.ts). A delivery that was leased while the domain was suspended is held
 * by the worker instead (send-attempt.ts), and so is one expanded from a batch accepted just before.
 */

/** The statuses a delivery waits in, unheld; each returns to its own on release. */
const WAITING = ['queued', 'scheduled', 'deferred'];
/** Rows per UPDATE (bound parameter lists stay small). */
const CHUNK = 500;

/**
 * Unleased waiting deliveries of the Suspended domain become held, a page of `size` at a time (walkQueue, along the
 * domain's queue index), each page its own short transaction: one read of a big sender's queue inside the suspending
 * transaction outlasted DB_QUERY_TIMEOUT_MS. The caller has committed the suspension first, so a row the walk has not
 * reached yet, or one added meanwhile, is held by the worker when it leases it (send-attempt.ts): a walk cut short
 * sends nothing. Each page share-locks the domain row and finds it still Suspended (a lift locks it, then releases:
 * the two wait for each other), else the walk ends. Rows are changed by primary key: an UPDATE by (domain, status)
 * would lock its whole range of the status index on MySQL, every tenant's queued rows and the gaps between them.
 * Returns how many it held.
 */
export async function holdDomainQueue(db: Db, size: number, domain: { id: number; user_id: number }, now: number): Promise<number> {
  let held = 0;
  const read = (q: Knex.QueryBuilder) =>
    q
      .where({ 'deliveries.user_id': Number(domain.user_id), 'deliveries.domain_id': Number(domain.id) })
      .select('deliveries.id', 'deliveries.status', 'deliveries.next_attempt_at');
  await walkQueue<{ id: number; status: string; next_attempt_at: number }>(db, size, ['deliveries_domain_queue_idx'], WAITING, read, async (page) => {
    const n = await db.transaction(async (trx) => {
      const lock = trx('sender_domains').where({ id: domain.id, status: STATUS.suspended }).first('id');
      if (!(await (isMysql(trx) ? lock.forShare() : lock))) return null;
      let count = 0;
      for (const status of WAITING) {
        const ids = page.filter((r) => r.status === status).map((r) => Number(r.id));
        // Each row keeps the status it returns to; one UPDATE per status and chunk.
        for (let i = 0; i < ids.length; i += CHUNK)
          count += await trx('deliveries')
            .whereIn('id', ids.slice(i, i + CHUNK))
            .where({ status })
            .where('lease_until', 0) // unleased: a stamp, even expired, is its worker's (leased.ts)
            .update({ status: 'held', held_from: status, held_at: now, held_by: SUSPENSION, updated_at: now });
      }
      return count;
    });
    if (n === null) return false; // lifted meanwhile: what is left waits as it is
    held += n;
  });
  return held;
}

export interface Released {
  id: number;
  attempts: number;
  runAt: number;
}

type HeldRow = { id: number; attempts: number; next_attempt_at: number };

/**
 * Suspension-held rows return to the status they were held from, with the time held added to `held_ms`, unless
 * their domain is Suspended (again) by now. By primary key, as the hold; returns the rows to enqueue and how many
 * moved.
 */
async function releaseRows(db: Db, rows: HeldRow[], now: number): Promise<{ released: Released[]; count: number }> {
  let count = 0;
  for (let i = 0; i < rows.length; i += CHUNK) {
    count += await db('deliveries')
      .whereIn(
        'id',
        rows.slice(i, i + CHUNK).map((r) => Number(r.id)),
      )
      .where({ status: 'held', held_by: SUSPENSION })
      .whereNotExists(db('sender_domains').whereRaw('sender_domains.id = deliveries.domain_id').where('status', STATUS.suspended).select(db.raw('1')))
      .update({
        status: db.raw("coalesce(held_from, 'queued')"),
        held_ms: db.raw('held_ms + (? - coalesce(held_at, ?))', [now, now]),
        held_from: null,
        held_at: null,
        held_by: null,
        updated_at: now,
      });
  }
  // A row that did not move (cancelled meanwhile) gets a job that finds nothing to lease: harmless.
  return { released: rows.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts), runAt: Math.max(now, Number(r.next_attempt_at)) })), count };
}

/**
 * The domain's suspension-held deliveries wait again, once its lift has committed: a page of `size` at a time, each
 * enqueued once its page committed (what cannot be enqueued, the sweeper finds). A release cut short leaves rows held
 * for a domain no longer Suspended: the sweeper's repair releases them (releaseOrphanedHolds), and so does the lift
 * asked again (emailgateway.setdomainstatus). Returns how many moved.
 */
export async function releaseDomainQueue(services: Services, size: number, domain: { id: number; user_id: number }, now: number): Promise<number> {
  let count = 0;
  const read = (q: Knex.QueryBuilder) =>
    q
      .where({ 'deliveries.user_id': Number(domain.user_id), 'deliveries.domain_id': Number(domain.id), 'deliveries.held_by': SUSPENSION })
      .select('deliveries.id', 'deliveries.attempts', 'deliveries.next_attempt_at');
  await walkQueue<HeldRow>(services.db, size, ['deliveries_domain_queue_idx'], ['held'], read, async (page) => {
    const { released, count: moved } = await releaseRows(services.db, page, now);
    count += moved;
    await enqueueReleased(services, released, now).catch((err) =>
      services.logger.warn('released deliveries not enqueued; the sweeper will pick them up', { domainId: domain.id, error: (err as Error).message }),
    );
  });
  return count;
}

/**
 * The sweeper's repair: suspension-held rows whose domain is no longer Suspended (a worker's hold that committed
 * after a lift read the held rows, possible under READ COMMITTED or on a cluster, where the hold's check of the
 * domain takes no lock) are released and enqueued. At most `limit` per call; returns how many moved. (Rows a lift
 * released but could not enqueue are waiting again: the ordinary sweep finds those.)
 */
export async function releaseOrphanedHolds(services: Services, now: number, limit = 500): Promise<number> {
  const { db } = services;
  const rows: HeldRow[] = await db('deliveries')
    .join('sender_domains', 'sender_domains.id', 'deliveries.domain_id')
    .where({ 'deliveries.status': 'held', 'deliveries.held_by': SUSPENSION })
    .whereNot('sender_domains.status', STATUS.suspended)
    .limit(limit)
    .select('deliveries.id', 'deliveries.attempts', 'deliveries.next_attempt_at');
  if (!rows.length) return 0;
  const { released, count } = await releaseRows(db, rows, now);
  await enqueueReleased(services, released, now);
  return count;
}

/** Enqueues released deliveries, each with a fresh job id (an old delayed job of the same attempt must not swallow it). */
export function enqueueReleased(services: Services, rows: Released[], now: number): Promise<void> {
  return enqueueDeliveries(
    services,
    rows.map((r) => ({ ...r, retake: now })),
  );
}
