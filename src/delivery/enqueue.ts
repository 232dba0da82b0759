import type { Services } from '../command';

export const DELIVERY_QUEUE = 'deliveries';

export interface DeliveryJob {
  deliveryId: number;
}

/** The job id names the delivery and its attempt, so the sweeper re-adding it is a no-op while it is pending. */
export function deliveryJobId(id: number, attempts: number, retake?: number): string {
  return retake ? `d${id}-a${attempts}-r${retake}` : `d${id}-a${attempts}`;
}

/**
 * `retake` (the expired lease's time) gives a delivery whose worker died mid-send a fresh job id: its old job
 * may still sit in the queue's active list until the queue notices the stall, and must not block the retry.
 */
export async function enqueueDeliveries(services: Services, items: { id: number; attempts: number; runAt: number; retake?: number }[]): Promise<void> {
  if (!items.length) return;
  const now = Date.now();
  const q = services.queues.queue<DeliveryJob>(DELIVERY_QUEUE);
  for (let i = 0; i < items.length; i += 1000) {
    await q.addBulk(
      items.slice(i, i + 1000).map((d) => ({
        name: 'deliver',
        data: { deliveryId: d.id },
        opts: { jobId: deliveryJobId(d.id, d.attempts, d.retake), delayMs: Math.max(0, d.runAt - now) },
      })),
    );
  }
}
