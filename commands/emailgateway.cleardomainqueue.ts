/** emailgateway.cleardomainqueue — cancel every queued, scheduled, deferred or held delivery of the domain (a suspension's too) (a `cancelled` event each), a page at a time (a call cut short is finished by the same call). Errors: 1 missing DomainID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { cancelDomainQueue } from '../src/mail/lookup';

export default defineCommand({
  name: 'emailgateway.cleardomainqueue',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    const cancelled = await cancelDomainQueue(ctx.db, ctx.config.deleteChunkRows, { id: domain.id, user_id: ctx.user!.id });
    return { Cancelled: cancelled };
  },
});
