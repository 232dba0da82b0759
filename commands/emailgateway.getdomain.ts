/** emailgateway.getdomain — one sender domain of the caller with its DNS records. Errors: 1 missing DomainID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain, presentDomain } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.getdomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    return { Domain: presentDomain(row, ctx.config) };
  },
});
