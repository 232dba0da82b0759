/** webhook.list — the subscriptions the key can see (its domain's; an account key's domains', and account-wide ones when unrestricted), optionally of one Format. Errors: 9 Format. */
import { defineCommand } from '../src/command';
import { domainScope } from '../src/auth/account-keys';
import { listSubscriptions } from '../src/webhooks/subscriptions';
import { isWebhookFormat } from '../src/webhooks/formats';

export default defineCommand({
  name: 'webhook.list',
  auth: 'sender',
  accountKey: 'can_read_analytics',
  rateLimit: { durationSec: 60 },
  keepsCredentialCaches: true,
  errors: {
    1: 'Missing API key',
    2: 'Invalid user account',
    9: 'Invalid Format (standard, cloudmails or platform)',
    13: 'Invalid API key',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const format = p.format === undefined || p.format === '' ? undefined : String(p.format).toLowerCase();
    return { Webhooks: await listSubscriptions(ctx, domainScope(ctx), isWebhookFormat(format) ? format : undefined) };
  },
});
