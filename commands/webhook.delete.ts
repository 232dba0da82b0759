/**
 * webhook.delete — remove one subscription the key can see, with its queued calls; with Format, only one of that
 * format (a dialect's door deletes its own: another door's subscription answers 4 as an unknown id does).
 * Errors: 4 not found (another account's id answers the same), 9 Format, 11 WebhookID missing.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { domainScope } from '../src/auth/account-keys';
import { deleteSubscription } from '../src/webhooks/subscriptions';
import { isWebhookFormat } from '../src/webhooks/formats';

export default defineCommand({
  name: 'webhook.delete',
  auth: 'sender',
  accountKey: 'can_read_analytics',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing API key',
    2: 'Invalid user account',
    4: 'Webhook not found',
    9: 'Invalid Format (standard, cloudmails or platform)',
    11: 'WebhookID is missing',
    13: 'Invalid API key',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const format = p.format === undefined || p.format === '' ? undefined : String(p.format).toLowerCase();
    if (!(await deleteSubscription(ctx, domainScope(ctx), Number(p.webhookid), isWebhookFormat(format) ? format : undefined))) throw new CommandError(4);
    return {};
  },
});
