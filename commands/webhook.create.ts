/**
 * webhook.create — subscribe a URL to some events in a format (standard | cloudmails | platform), with its own
 * `whsec_…` secret (shown in the reply). A sender key subscribes its domain; an account key (can_read_analytics)
 * its one allowed domain, or every domain of the account when unrestricted. Ping=1 calls the URL with a test
 * event first and activates a new subscription only on a 2xx. The same format and URL again updates that
 * subscription (the platform format adds the events to its own; with Ping=1, only after a 2xx: a failed ping leaves
 * it as it was). Errors: 3 malformed URL,
 * 5 URL missing, 6 not http(s), 7 host not allowed, 8 Events, 9 Format, 10 Ping, 14 the key's domain is being
 * deleted (src/domains/deleting.ts; not 12, which every dialect reads as a disabled account); 46 the key's one domain no longer exists (also when its deletion finishes while the call runs, its test ping
 * included: the subscription went with it); 99999 a key restricted to several domains.
 */
import { defineCommand } from '../src/command';
import { createSubscription } from '../src/webhooks/subscriptions';
import { subscriptionDomain } from '../src/webhooks/subscriptions';
import { truthy } from '../src/http/params';
import { isWebhookFormat } from '../src/webhooks/formats';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

export default defineCommand({
  name: 'webhook.create',
  auth: 'sender',
  accountKey: 'can_read_analytics',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing API key',
    2: 'Invalid user account',
    3: 'Invalid webhook URL',
    5: 'URL is missing',
    6: 'Webhook URL must be a valid HTTP or HTTPS URL.',
    7: 'Webhook URL host is not allowed (localhost, private, link-local or metadata address)',
    8: 'Invalid events',
    9: 'Invalid Format (standard, cloudmails or platform)',
    10: 'Invalid Ping (true or false)',
    11: 'Webhook limit reached (at most 50 per account)',
    14: DOMAIN_DELETING_TEXT,
    13: 'Invalid API key',
    46: 'This API key is restricted to a sender domain that no longer exists',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const events = Array.isArray(p.events)
      ? p.events.map(String)
      : String(p.events ?? '')
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean);
    const format = p.format === undefined || p.format === '' ? 'standard' : String(p.format).toLowerCase();
    if (!isWebhookFormat(format)) throw new Error('unreachable: the schema checks Format');
    return createSubscription(
      ctx,
      subscriptionDomain(ctx),
      { url: String(p.url), events, format, ping: truthy(p.ping) },
      { malformed: 3, scheme: 6, host: 7, events: 8, domain: 46, limit: 11, deleting: 14 },
    );
  },
});
