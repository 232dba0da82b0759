import type { Services } from '../command';
import type { Db } from '../db';
import { STATUS } from '../domains/domains';
import { enqueueDeliveries } from './enqueue';
import { SUSPENSION } from './held-by';

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
 * Unleased waiting deliveries of the domain become held, in the caller's transaction. Returns how many. The rows are
 * found with a plain read and changed by primary key: an UPDATE by (domain, status) would lock its whole range of
 * the status index on MySQL, every tenant's queued rows and the gaps between them, and stall every accept and lease
 * until the suspension commits. A row leased or added since the read is the worker's to hold (send-attempt.ts).
 */
export async function holdDomainQueue(trx: Db, domainId: number, now: number): Promise<number> {
  const rows: { id: number; status: string }[] = await trx('deliveries')
    .where({ domain_id: domainId })
    .whereIn('status', WAITING)
    .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now))
    .select('id', 'status');
  let held = 0;
  for (const status of WAITING) {
    const ids = rows.filter((r) => r.status === status).map((r) => Number(r.id));
    // Each row keeps the status it returns to; one UPDATE per status and chunk.
    for (let i = 0; i < ids.length; i += CHUNK) {
      held += await trx('deliveries')
        .whereIn('id', ids.slice(i, i + CHUNK))
        .where({ status })
        .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now))
        .update({ status: 'held', held_from: status, held_at: now, held_by: SUSPENSION, updated_at: now });
    }
  }
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
 * The domain's suspension-held deliveries wait again, in the caller's transaction (the lift's). The caller enqueues
 * the rows this returns once the transaction committed (`enqueueReleased`); what it cannot enqueue, the sweeper finds.
 */
export async function releaseDomainQueue(trx: Db, domainId: number, now: number): Promise<{ released: Released[]; count: number }> {
  const rows: HeldRow[] = await trx('deliveries')
    .where({ domain_id: domainId, status: 'held', held_by: SUSPENSION })
    .select('id', 'attempts', 'next_attempt_at');
  return releaseRows(trx, rows, now);
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
