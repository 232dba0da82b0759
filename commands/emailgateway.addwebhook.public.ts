/** emailgateway.addwebhook.public (POST /api/v1/webhooks) — subscribe a URL to one event of the sender key's domain (delivered, bounced, opened, clicked, unsubscribed, complained; private names work too). Errors: 2 Event missing, 3 invalid event or malformed URL, 5 WebhookURL missing, 6 not http(s), 7 host not allowed, 8 the account has 50 webhooks already, 9 the key's domain is being deleted (src/domains/deleting.ts; 409), 13 key (also when its domain was deleted meanwhile). */
import { defineCommand } from '../src/command';
import { addWebhook } from '../src/webhooks/webhooks';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.addwebhook.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Event is missing',
    3: 'Invalid event type or invalid webhook URL',
    5: 'WebhookURL is missing',
    6: 'Webhook URL must be a valid HTTP or HTTPS URL.',
    7: 'Webhook URL host is not allowed (localhost, private, link-local or metadata address)',
    8: 'Webhook limit reached (at most 50 per account)',
    9: DOMAIN_DELETING_TEXT,
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  httpStatus: { 9: 409 },
  async run(p, ctx) {
    return addWebhook(ctx, ctx.domain!, p, { event: 3, malformed: 3, scheme: 6, host: 7, limit: 8, deleting: 9, gone: 13 });
  },
});
