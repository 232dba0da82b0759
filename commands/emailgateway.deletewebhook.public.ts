/** emailgateway.deletewebhook.public (DELETE /api/v1/webhooks) — delete one of the sender key's domain's webhooks. Errors: 1 WebhookID missing, 2 invalid account, 4 invalid WebhookID, 13 key. */
import { defineCommand } from '../src/command';
import { deleteWebhook } from '../src/webhooks/webhooks';

export default defineCommand({
  name: 'emailgateway.deletewebhook.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: { 1: 'WebhookID is missing', 2: 'Invalid user account', 4: 'Invalid WebhookID', 13: 'Invalid SenderAPIKey', 429: 'Too many requests' },
  async run(p, ctx) {
    return deleteWebhook(ctx, ctx.domain!.id, p.webhookid, 4);
  },
});
