import os from 'node:os';
import type { Services } from '../command';
import { leaseOwner } from '../lease-owner';
import { CaptureStore } from '../capture/store';
import { isOutage } from '../outage';
import { expandBatch } from '../mail/expand-batches';
import { createThrottle, Throttle } from '../throttle/throttle';
import { BudgetHold, ByteBudget } from './byte-budget';
import { DkimKeyCache } from './dkim-keys';
import { DELIVERY_QUEUE, DeliveryJob } from './enqueue';
import { createLeaseSettle } from './lease-settle';
import { createSendAttempt } from './send-attempt';
import { startSweeper } from './sweeper';
import { Transports } from './transports';
import { withStsTestingLog } from './sts-testing-log';
import { relayCredentialsRisk } from './tls-policy';
import { createStsStore } from './mta-sts-store';
import type { WorkerCtx } from './worker-ctx';

// Importers of these from here predate the split.
export { verpSecret } from './verp';
export { updateByCase } from './lease-settle';

export interface DeliveryWorker {
  deliver(deliveryId: number): Promise<void>;
  sweep(graceMs?: number): Promise<number>;
  stop(): Promise<void>;
  /** Body bytes held between lease and settle now, the most at once, and DELIVERY_MAX_BYTES_IN_FLIGHT. */
  bytesInFlight(): { inUse: number; peak: number; limit: number };
}

/**
 * Sends deliveries: lease the row (so no two workers send it), DKIM-sign, hand it over with a VERP return
 * path, then record the outcome. A crashed worker's lease expires and the sweeper re-enqueues the row.
 * The parts: lease-settle.ts (the database side, in groups), send-attempt.ts (one attempt), sweeper.ts.
 */
export function createDeliveryWorker(services: Services, opts: { throttle?: Throttle; hostname?: string } = {}): DeliveryWorker {
  const { db, config, logger } = services;
  const owner = leaseOwner(opts.hostname ?? os.hostname(), process.pid);
  const throttle = opts.throttle ?? createThrottle(services);
  const dkimKeys = new DkimKeyCache();
  const transports = new Transports(
    config,
    dkimKeys,
    withStsTestingLog(services.metrics, logger),
    config.deliveryMode === 'capture' ? new CaptureStore(db, config, logger) : null,
    (domain, mx) => throttle.limitsFor(domain, mx),
    createStsStore(db),
  );
  const ctx: WorkerCtx = { services, owner, throttle, transports };
  const risk = config.deliveryMode === 'relay' ? relayCredentialsRisk(config.smtpRelayUrl) : null;
  if (risk) logger.warn(risk);
  if (config.sendingIpPools.size && config.deliveryMode !== 'mx')
    logger.warn(`SENDING_IP_POOLS applies to DELIVERY_MODE=mx only: in ${config.deliveryMode} mode no pool is used`);
  // The bytes of bodies between lease and settle stay within DELIVERY_MAX_BYTES_IN_FLIGHT: each delivery holds a
  // concurrency's share before its lease (the most its lease group reads for it), then as much as its body takes.
  const budget = new ByteBudget(config.deliveryMaxBytesInFlight);
  const share = Math.max(1, Math.floor(config.deliveryMaxBytesInFlight / config.deliveryConcurrency));
  const leaseSettle = createLeaseSettle(ctx, { bodyMaxBytes: share });
  const attempt = createSendAttempt(ctx, leaseSettle);

  // At most DELIVERY_CONCURRENCY deliveries between lease and settle: a group job's rows are leased only when
  // a slot is free (and the byte budget has its share), so a lease never runs out while its row waits behind others.
  let running = 0;
  const slots: (() => void)[] = [];
  async function deliver(deliveryId: number): Promise<void> {
    if (running >= config.deliveryConcurrency) await new Promise<void>((resolve) => slots.push(resolve));
    running += 1;
    let hold: BudgetHold | undefined;
    try {
      hold = await budget.hold(share);
      await attempt(deliveryId, hold);
    } finally {
      hold?.release();
      running -= 1;
      slots.shift()?.();
    }
  }

  const queue = services.queues.queue<DeliveryJob>(DELIVERY_QUEUE);
  queue.process(
    async (job) => {
      if (job.data.pendingBatch !== undefined) return expandJob(job.data.pendingBatch);
      const ids = job.data.deliveryIds ?? (job.data.deliveryId === undefined ? [] : [job.data.deliveryId]);
      await Promise.all(
        ids.map((id) =>
          deliver(id).catch((err) => {
            // Never fail the job (a failed job id would block re-adding it); the lease expires and the sweeper retries.
            if (isOutage(err))
              logger.warn('delivery attempt stopped: database unavailable', { deliveryId: id, error: (err as { code?: string }).code ?? (err as Error).name });
            else logger.error('delivery attempt crashed', { deliveryId: id, error: (err as Error).stack });
          }),
        ),
      );
    },
    { concurrency: config.deliveryConcurrency },
  );
  // A batch accepted as one row: expanded here, its deliveries enqueued. Never fails the job: a failed expansion
  // rolled back and left the row, which the sweeper expands later.
  async function expandJob(id: string): Promise<void> {
    await expandBatch(services, id).catch((err) =>
      logger.warn('pending batch expansion failed; the sweeper will retry', { batch: id, error: (err as Error).message }),
    );
  }
  const sweeper = startSweeper(ctx);
  let stopped = false;

  return {
    deliver,
    sweep: sweeper.sweep,
    bytesInFlight: () => ({ inUse: budget.inUse, peak: budget.peak, limit: budget.limit }),
    /** Takes no more jobs, lets running deliveries finish, then stops the sweeper and closes connections. Once. */
    async stop() {
      if (stopped) return; // a second call would stop a later worker's consumer of the same queue
      stopped = true;
      await queue.stopProcessing();
      sweeper.stop();
      leaseSettle.stop();
      transports.close();
    },
  };
}
