/** emailgateway.getwebhooks — a domain's webhooks (Event in the private vocabulary, Status, failure count) and its SigningKey (null for a domain being deleted that has none yet: none is made for it). Errors: 1 missing DomainID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { listWebhooksWithKey } from '../src/webhooks/webhooks';

export default defineCommand({
  name: 'emailgateway.getwebhooks',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    return listWebhooksWithKey(ctx, domain, 'legacy');
  },
});
