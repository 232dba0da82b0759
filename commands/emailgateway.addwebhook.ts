/** emailgateway.addwebhook — subscribe a URL to one event of a domain (delivery, bounce, open, click, unsubscribe, complaint; the stored names work too). Errors: 1 DomainID, 2 Event missing, 3 invalid event, 4 domain not found (also deleted meanwhile), 5 WebhookURL missing, 6 not an http(s) URL, 7 host not allowed (SSRF guard), 8 the account has 50 webhooks already, 9 the domain is being deleted (src/domains/deleting.ts). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { addWebhook } from '../src/webhooks/webhooks';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.addwebhook',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (DomainID)',
    2: 'Missing required parameter (Event)',
    3: 'Invalid event type',
    4: 'Domain not found or access denied',
    5: 'Missing required parameter (WebhookURL)',
    6: 'Webhook URL must be a valid HTTP or HTTPS URL.',
    7: 'Webhook URL host is not allowed (localhost, private, link-local or metadata address)',
    8: 'Webhook limit reached (at most 50 per account)',
    9: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 9: 409 },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(4);
    return addWebhook(ctx, domain, p, { event: [3], malformed: 6, scheme: 6, host: 7, limit: 8, deleting: 9, gone: 4 });
  },
});
