/** emailgateway.getapis — a domain's sender API keys, masked. Errors: 1 missing DomainID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { presentSenderKey } from '../src/credentials/credentials';
import { findOwnedDomain } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.getapis',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    const rows = await ctx.db('domain_api_keys').where({ domain_id: domain.id, user_id: ctx.user!.id }).orderBy('id');
    return { APIKeys: rows.map((r) => presentSenderKey(r)) };
  },
});
