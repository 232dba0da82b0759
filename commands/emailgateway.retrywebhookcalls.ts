/** emailgateway.retrywebhookcalls — queues a webhook's failed calls again (enabling it if it was disabled), once its receiver is mended. Errors: 1 missing WebhookID, 2 missing DomainID, 3 domain not found/denied, 4 webhook not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { retryFailedCalls } from '../src/webhooks/retry-calls';

export default defineCommand({
  name: 'emailgateway.retrywebhookcalls',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (WebhookID)',
    2: 'Missing required parameter (DomainID)',
    3: 'Domain not found or access denied',
    4: 'Webhook not found or access denied',
  },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(3);
    return retryFailedCalls(ctx, domain.id, p.webhookid, 4);
  },
});
