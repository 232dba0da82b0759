/** emailgateway.deleteretainedsuppression — forget an address kept from a deleted domain (Domain), or from all of the caller's (no Domain): re-adding the name no longer restores it. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isEmail } from '../src/auth/user-fields';
import { forgetRetained, keptDomainParam } from '../src/domains/retained';
import { RETAINED_ERRORS } from '../src/suppression/handlers';

export default defineCommand({
  name: 'emailgateway.deleteretainedsuppression',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: RETAINED_ERRORS,
  async run(p, ctx) {
    const domain = keptDomainParam(p.domain);
    const email = String(p.emailaddress).trim();
    if (!isEmail(email)) throw new CommandError([4]);
    const deleted = await forgetRetained(ctx.db, ctx.user!.id, email, domain);
    if (!deleted) throw new CommandError(5);
    return { Deleted: deleted };
  },
});
