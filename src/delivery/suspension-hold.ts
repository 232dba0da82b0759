import type { Services } from '../command';
import type { Db } from '../db';
import { enqueueDeliveries } from './enqueue';

/**
 * A suspended sender domain's queued mail waits with it (docs/reputation-guard.md): suspension holds the domain's
 * waiting deliveries, lifting it releases them. They are `held` as by queue.hold (no worker leases them, the sweeper
 * passes them by, the age limit does not count the time), marked `held_by = 'suspension'` so that only the lift
 * releases them. A delivery that was leased while the domain was suspended is held by the worker instead
 * (send-attempt.ts), and so is one expanded from a batch accepted just before.
 */

export const SUSPENSION = 'suspension';
/** The statuses a delivery waits in, unheld; each returns to its own on release. */
const WAITING = ['queued', 'scheduled', 'deferred'];
/** Rows per UPDATE on release (bound parameter lists stay small). */
const CHUNK = 500;

/** Unleased waiting deliveries of the domain become held, in the caller's transaction. Returns how many. */
export async function holdDomainQueue(trx: Db, domainId: number, now: number): Promise<number> {
  let held = 0;
  // One UPDATE per status, so each row keeps the status it returns to; no row is read into the process.
  for (const status of WAITING) {
    held += await trx('deliveries')
      .where({ domain_id: domainId, status })
      .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now))
      .update({ status: 'held', held_from: status, held_at: now, held_by: SUSPENSION, updated_at: now });
  }
  return held;
}

export interface Released {
  id: number;
  attempts: number;
  runAt: number;
}

/**
 * The domain's suspension-held deliveries return to the status they were held from, in the caller's transaction,
 * with the time held added to `held_ms`. The caller enqueues what this returns once the transaction committed
 * (`enqueueReleased`); what it cannot enqueue, the sweeper finds.
 */
export async function releaseDomainQueue(trx: Db, domainId: number, now: number): Promise<Released[]> {
  const q = trx('deliveries').where({ domain_id: domainId, status: 'held', held_by: SUSPENSION }).select('id', 'attempts', 'next_attempt_at');
  const rows = (trx.client.config.client === 'mysql2' ? await q.forUpdate() : await q) as { id: number; attempts: number; next_attempt_at: number }[];
  for (let i = 0; i < rows.length; i += CHUNK) {
    await trx('deliveries')
      .whereIn(
        'id',
        rows.slice(i, i + CHUNK).map((r) => Number(r.id)),
      )
      .where({ status: 'held', held_by: SUSPENSION })
      .update({
        status: trx.raw("coalesce(held_from, 'queued')"),
        held_ms: trx.raw('held_ms + (? - coalesce(held_at, ?))', [now, now]),
        held_from: null,
        held_at: null,
        held_by: null,
        updated_at: now,
      });
  }
  return rows.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts), runAt: Math.max(now, Number(r.next_attempt_at)) }));
}

/** Enqueues released deliveries, each with a fresh job id (an old delayed job of the same attempt must not swallow it). */
export function enqueueReleased(services: Services, rows: Released[], now: number): Promise<void> {
  return enqueueDeliveries(
    services,
    rows.map((r) => ({ ...r, retake: now })),
  );
}
