/** emailgateway.getwebhooklog — a webhook's recent call attempts (newest first: result, HTTP status, duration, error), its state and queued calls. Errors: 1 missing WebhookID, 2 missing DomainID, 3 domain not found/denied, 4 webhook not found/denied, 5 RetrieveCount not 1-100. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { webhookLog } from '../src/webhooks/webhooks';

export default defineCommand({
  name: 'emailgateway.getwebhooklog',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (WebhookID)',
    2: 'Missing required parameter (DomainID)',
    3: 'Domain not found or access denied',
    4: 'Webhook not found or access denied',
    5: 'RetrieveCount must be between 1 and 100',
  },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(3);
    return webhookLog(ctx, domain.id, p, 4, 'legacy');
  },
});
