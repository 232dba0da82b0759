import type { Services } from '../command';

export const DELIVERY_QUEUE = 'deliveries';

export interface DeliveryJob {
  deliveryId: number;
}

/** The job id names the delivery and its attempt, so the sweeper re-adding it is a no-op while it is pending. */
export function deliveryJobId(id: number, attempts: number): string {
  return `d${id}-a${attempts}`;
}

export async function enqueueDeliveries(services: Services, items: { id: number; attempts: number; runAt: number }[]): Promise<void> {
  if (!items.length) return;
  const now = Date.now();
  const q = services.queues.queue<DeliveryJob>(DELIVERY_QUEUE);
  for (let i = 0; i < items.length; i += 1000) {
    await q.addBulk(
      items.slice(i, i + 1000).map((d) => ({
        name: 'deliver',
        data: { deliveryId: d.id },
        opts: { jobId: deliveryJobId(d.id, d.attempts), delayMs: Math.max(0, d.runAt - now) },
      })),
    );
  }
}
