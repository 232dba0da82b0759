import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import type { Logger } from '../../src/logger';
import { Harness, senderSetup, startHarness } from './harness';
import { Sink, startSink } from './sink';

export interface RelayRig {
  h: Harness;
  sink: Sink;
  worker: DeliveryWorker;
  s: Awaited<ReturnType<typeof senderSetup>>;
  close(): Promise<void>;
}

/** The delivery tests' timing: one-second retries and sweeps, and 5 s before a sweep takes an expired lease. */
export const QUICK_RETRIES: Record<string, string> = { RETRY_SCHEDULE_SECONDS: '1', SWEEP_INTERVAL_SECONDS: '1', SWEEP_GRACE_SECONDS: '5' };

/** A harness's settings for relaying to a smarthost on loopback `port`, with QUICK_RETRIES. */
export function relayEnv(port: number): Record<string, string> {
  return { DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${port}`, ...QUICK_RETRIES };
}

/**
 * The usual delivery setup: a sink, a harness relaying to it (relayEnv), a delivery worker and a sender with an
 * Enabled domain and key. `close` stops them in the order that loses nothing.
 */
export async function startRelayRig(
  env: Record<string, string> = {},
  opts: { logger?: Logger; /** the delivery worker's host name (its lease owner) */ hostname?: string } = {},
): Promise<RelayRig> {
  const sink = await startSink();
  const h = await startHarness({ ...relayEnv(sink.port), ...env }, { logger: opts.logger });
  const worker = createDeliveryWorker(h.services, { hostname: opts.hostname });
  const s = await senderSetup(h);
  return {
    h,
    sink,
    worker,
    s,
    async close() {
      // The order main.ts shuts down in: the queue lets running deliveries finish, then the worker closes its pools.
      await h.services.queues.close();
      await worker.stop();
      await h.close();
      await sink.close();
    },
  };
}
