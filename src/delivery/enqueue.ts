import type { Services } from '../command';

export const DELIVERY_QUEUE = 'deliveries';

/** "Look at these delivery rows": one (retries, scheduled sends, the sweeper) or a group accepted together. */
export interface DeliveryJob {
  deliveryId?: number;
  deliveryIds?: number[];
  /** A pending_batches row to expand into its deliveries (src/mail/expand-batches.ts). */
  pendingBatch?: string;
}

/** Most deliveries one group job names. */
export const GROUP_JOB_SIZE = 100;

/**
 * The job id names the delivery and its attempt, so the sweeper re-adding it is a no-op while it is pending. `again`
 * (a lease give-back's second look, src/delivery/lease-giveback.ts) names a second give-back of the same stamp: its
 * first job may still be waiting or running, having found the row stamped, and must not swallow the second.
 */
export function deliveryJobId(id: number, attempts: number, retake?: number, again?: number): string {
  const base = retake ? `d${id}-a${attempts}-r${retake}` : `d${id}-a${attempts}`;
  return again ? `${base}-g${again}` : base;
}

/**
 * `retake` (the expired lease's time) gives a delivery whose worker died mid-send a fresh job id: its old job
 * may still sit in the queue's active list until the queue notices the stall, and must not block the retry.
 */
export async function enqueueDeliveries(
  services: Services,
  items: { id: number; attempts: number; runAt: number; retake?: number; again?: number }[],
): Promise<void> {
  if (!items.length) return;
  const now = Date.now();
  const q = services.queues.queue<DeliveryJob>(DELIVERY_QUEUE);
  const jobs: { name: string; data: DeliveryJob; opts: { jobId: string; delayMs: number } }[] = [];
  // First attempts that are due now go out as group jobs: the queue moves one job per group instead of one per
  // delivery. A group's id names its first and last delivery (ids are unique, so group ids are too).
  const now0 = items.filter((d) => d.attempts === 0 && d.retake === undefined && d.runAt <= now);
  for (let i = 0; i < now0.length; i += GROUP_JOB_SIZE) {
    const ids = now0.slice(i, i + GROUP_JOB_SIZE).map((d) => d.id);
    if (ids.length === 1) jobs.push({ name: 'deliver', data: { deliveryId: ids[0] }, opts: { jobId: deliveryJobId(ids[0], 0), delayMs: 0 } });
    else jobs.push({ name: 'deliver', data: { deliveryIds: ids }, opts: { jobId: `g${ids[0]}-${ids[ids.length - 1]}-n${ids.length}`, delayMs: 0 } });
  }
  for (const d of items) {
    if (d.attempts === 0 && d.retake === undefined && d.runAt <= now) continue;
    jobs.push({
      name: 'deliver',
      data: { deliveryId: d.id },
      opts: { jobId: deliveryJobId(d.id, d.attempts, d.retake, d.again), delayMs: Math.max(0, d.runAt - now) },
    });
  }
  for (let i = 0; i < jobs.length; i += 1000) await q.addBulk(jobs.slice(i, i + 1000));
}
