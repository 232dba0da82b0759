/** user.senderdomain.delete (DELETE /api/v1/user.senderdomain) — delete a domain as emailgateway.deletedomain does. Errors: 1 missing DomainID, 2 not found, 3 the domain is Suspended. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { deleteDomain, SUSPENDED_DELETE_CODE, SUSPENDED_DELETE_MESSAGE } from '../src/domains/manage';
import { DOMAIN_NOT_FOUND, MISSING_DOMAIN_ID, USER_AREA } from '../src/domains/user-errors';

export default defineCommand({
  name: 'user.senderdomain.delete',
  ...USER_AREA,
  errors: { 1: MISSING_DOMAIN_ID, 2: DOMAIN_NOT_FOUND, [SUSPENDED_DELETE_CODE]: SUSPENDED_DELETE_MESSAGE, 429: 'Too many requests' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row || !(await deleteDomain(ctx, row))) throw new CommandError(2);
    return {};
  },
});
