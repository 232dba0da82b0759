/** emailgateway.deletedomain — delete a sender domain with its DKIM key, API keys, SMTP credentials, manual suppressions and message history (its hard bounces, complaints and unsubscribes are kept for the account and come back if it adds the name again). Errors: 1 missing DomainID, 2 not found/denied, 3 the domain is Suspended (only the admin's lift allows deleting it). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { deleteDomain, SUSPENDED_DELETE_CODE, SUSPENDED_DELETE_MESSAGE } from '../src/domains/manage';

export default defineCommand({
  name: 'emailgateway.deletedomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied', [SUSPENDED_DELETE_CODE]: SUSPENDED_DELETE_MESSAGE },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row || !(await deleteDomain(ctx, row))) throw new CommandError(2);
    return {};
  },
});
