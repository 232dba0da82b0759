import type { Logger } from '../../src/logger';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { listen } from '../dialects/conformance';
import { RelayRig, startRelayRig } from './rig';

export interface WebhookRig extends RelayRig {
  /** The webhook worker, calling the subscriptions' endpoints (`worker` is the delivery worker). */
  hooks: WebhookWorker;
  /** The gateway's app on a real listener on 127.0.0.1, for fetch() through its doors. */
  srv: Awaited<ReturnType<typeof listen>>;
}

/**
 * A relay rig (startRelayRig) with a webhook worker and a listener, for the webhook tests that go through the HTTP
 * doors. `close` stops the webhook worker first (no call left half made), then the listener, then the relay rig.
 */
export async function startWebhookRig(env: Record<string, string> = {}, opts: { logger?: Logger } = {}): Promise<WebhookRig> {
  const rig = await startRelayRig(env, opts);
  const hooks = startWebhookWorker(rig.h.services);
  const srv = await listen(rig.h.app);
  return {
    ...rig,
    hooks,
    srv,
    async close() {
      await hooks.stop();
      await srv.close();
      await rig.close();
    },
  };
}
