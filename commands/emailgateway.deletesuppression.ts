/** emailgateway.deletesuppression — take an address off the domain's suppression list. Errors: see PRIVATE_ERRORS (1/2 DomainID, 3/4 EmailAddress, 5 not listed, 6 paging). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { deleteOne, PRIVATE_ERRORS } from '../src/suppression/handlers';

export default defineCommand({
  name: 'emailgateway.deletesuppression',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: PRIVATE_ERRORS,
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    return deleteOne(ctx, domain.id, p);
  },
});
