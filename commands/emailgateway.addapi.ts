/** emailgateway.addapi — a new sender API key for a domain, shown in full once. Errors: 1 missing Description, 2 missing DomainID, 3 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { insertSenderKey } from '../src/credentials/sender-keys';
import { findOwnedDomain } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.addapi',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (Description)', 2: 'Missing required parameter (DomainID)', 3: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(3);
    return insertSenderKey(ctx.db, ctx.user!.id, domain.id, String(p.description));
  },
});
