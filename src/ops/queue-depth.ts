import type { Db } from '../db';
import { SUSPENSION, SWITCHED_OFF } from '../delivery/held-by';
import { shownStatus, STORED_SENDING, WAITING } from '../delivery/leased';

/**
 * Delivery states as operators name them, and the status each shows (shownStatus: a lease is a waiting row with a
 * stamp, leased.ts, and shows `sending`).
 */
export const QUEUE_STATES: Record<string, string> = { queued: 'queued', scheduled: 'scheduled', deferred: 'deferred', leased: 'sending', held: 'held' };

export interface QueueDepth {
  /** Deliveries in each state (every state present, 0 when none). */
  byState: Record<string, number>;
  /** Of `byState.held`, those held for their sender domain's suspension (held_by 'suspension'), not by queue.hold. */
  heldBySuspension: number;
  /** Of `byState.held`, those held while their account or domain is switched off (held_by 'disabled'). */
  heldSwitchedOff: number;
  /** When the oldest delivery still waiting for its first attempt was accepted (ms), or null. */
  oldestQueuedAt: number | null;
  /** Recipients accepted in batch rows not yet expanded into deliveries (src/mail/pending-batches.ts); in `queued` too. */
  pendingBatchRecipients: number;
}

/**
 * One grouped count over the deliveries that are not finished (the `status` index bounds it to those rows).
 * `held` is counted whenever a delivery carries that status (queue control, issue 17 §4).
 * A batch accepted as one row is queued from its accept on, though its deliveries are written only when it is
 * expanded: its recipients count as `queued`, and its accept time as a queued delivery's.
 */
export async function queueDepth(db: Db, filter: { domainId?: number; userId?: number } = {}): Promise<QueueDepth> {
  const q = db('deliveries').whereIn('status', [...WAITING, 'held', STORED_SENDING]);
  if (filter.domainId !== undefined) q.where('domain_id', filter.domainId);
  if (filter.userId !== undefined) q.where('user_id', filter.userId);
  const pending = db('pending_batches');
  if (filter.domainId !== undefined) pending.where('domain_id', filter.domainId);
  if (filter.userId !== undefined) pending.where('user_id', filter.userId);
  const [rows, pendingRows] = await Promise.all([
    // By held_by too (null on every row not held): the sender's holds apart from queue.hold's in the same query. By
    // whether a stamp is on the row: a waiting row with one is leased (leased.ts).
    q
      .groupBy('status', 'held_by', 'stamped')
      .select('status', 'held_by', db.raw('case when `lease_until` > 0 then 1 else 0 end as `stamped`'))
      .count({ n: '*' })
      .min({ oldest: 'created_at' }) as unknown as Promise<
      { status: string; held_by: string | null; stamped: number | string; n: number | string; oldest: number | string | null }[]
    >,
    pending.sum({ n: 'recipients' }).min({ oldest: 'created_at' }) as unknown as Promise<{ n: number | string | null; oldest: number | string | null }[]>,
  ]);
  const byState: Record<string, number> = {};
  for (const state of Object.keys(QUEUE_STATES)) byState[state] = 0;
  let oldestQueuedAt: number | null = null;
  let heldBySuspension = 0;
  let heldSwitchedOff = 0;
  for (const r of rows) {
    const shown = shownStatus({ status: r.status, lease_until: Number(r.stamped) });
    const state = Object.keys(QUEUE_STATES).find((k) => QUEUE_STATES[k] === shown);
    if (!state) continue;
    byState[state] += Number(r.n);
    if (state === 'held' && r.held_by === SUSPENSION) heldBySuspension += Number(r.n);
    if (state === 'held' && r.held_by === SWITCHED_OFF) heldSwitchedOff += Number(r.n);
    if (state === 'queued' && r.oldest !== null) oldestQueuedAt = oldestQueuedAt === null ? Number(r.oldest) : Math.min(oldestQueuedAt, Number(r.oldest));
  }
  const pendingBatchRecipients = Number(pendingRows[0]?.n ?? 0);
  const pendingOldest = pendingRows[0]?.oldest;
  byState.queued += pendingBatchRecipients;
  if (pendingOldest !== null && pendingOldest !== undefined) {
    oldestQueuedAt = oldestQueuedAt === null ? Number(pendingOldest) : Math.min(oldestQueuedAt, Number(pendingOldest));
  }
  return { byState, heldBySuspension, heldSwitchedOff, oldestQueuedAt, pendingBatchRecipients };
}
