/** webhook.delete — remove one subscription the key can see, with its queued calls. Errors: 4 not found (another account's id answers the same), 11 WebhookID missing. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { domainScope } from '../src/auth/account-keys';
import { deleteSubscription } from '../src/webhooks/subscriptions';

export default defineCommand({
  name: 'webhook.delete',
  auth: 'sender',
  accountKey: 'can_read_analytics',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing API key',
    2: 'Invalid user account',
    4: 'Webhook not found',
    11: 'WebhookID is missing',
    13: 'Invalid API key',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    if (!(await deleteSubscription(ctx, domainScope(ctx), Number(p.webhookid)))) throw new CommandError(4);
    return {};
  },
});
