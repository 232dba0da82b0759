/**
 * emailgateway.getwebhooks.public (GET /api/v1/webhooks) — the sender key's domain's webhooks (stored event names).
 * Not the SigningKey (Octeth's reply is `{"Webhooks":[…]}`): a send key must not be enough to sign calls. Errors: 2 invalid account, 13 key.
 */
import { defineCommand } from '../src/command';
import { listWebhooks } from '../src/webhooks/webhooks';

export default defineCommand({
  name: 'emailgateway.getwebhooks.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: { 1: 'Missing SenderAPIKey', 2: 'Invalid user account', 13: 'Invalid SenderAPIKey', 429: 'Too many requests' },
  async run(_p, ctx) {
    return listWebhooks(ctx, ctx.domain!.id, 'stored');
  },
});
