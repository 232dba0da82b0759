/** emailgateway.retrywebhookcalls.public (POST /api/v1/webhooks/:WebhookID/retry) — queues the failed calls of one of the sender key's domain's webhooks again. Errors: 1 WebhookID missing, 2 invalid account, 4 invalid WebhookID, 13 key. */
import { defineCommand } from '../src/command';
import { retryFailedCalls } from '../src/webhooks/retry-calls';

export default defineCommand({
  name: 'emailgateway.retrywebhookcalls.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: { 1: 'WebhookID is missing', 2: 'Invalid user account', 4: 'Invalid WebhookID', 13: 'Invalid SenderAPIKey', 429: 'Too many requests' },
  async run(p, ctx) {
    return retryFailedCalls(ctx, ctx.domain!.id, p.webhookid, 4);
  },
});
