/** emailgateway.getwebhooklog.public (GET /api/v1/webhooks/:WebhookID/log) — recent call attempts of one of the sender key's domain's webhooks. Errors: 1 WebhookID missing, 4 invalid WebhookID, 5 RetrieveCount not 1-100, 13 key. */
import { defineCommand } from '../src/command';
import { webhookLog } from '../src/webhooks/webhooks';

export default defineCommand({
  name: 'emailgateway.getwebhooklog.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'WebhookID is missing',
    2: 'Invalid user account',
    4: 'Invalid WebhookID',
    5: 'RetrieveCount must be between 1 and 100',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    return webhookLog(ctx, ctx.domain!.id, p, 4, 'stored');
  },
});
