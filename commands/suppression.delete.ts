/**
 * suppression.delete — remove addresses from one scope (as suppression.browse): EmailAddress (single; 2 when not
 * listed) or EmailAddresses / EmailAddressesBulk (bulk reply TotalDeleted, TotalFailed, FailedEmailAddresses).
 * Errors (array): 1 no input, 2 invalid address / not listed / malformed JSON, 4 bad ListID.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isEmail } from '../src/auth/user-fields';
import { addressesOf, scopeOf } from '../src/suppression/entries';

export default defineCommand({
  name: 'suppression.delete',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  arrayErrors: true,
  errors: {
    1: 'Missing input: send EmailAddress, EmailAddresses or EmailAddressesBulk',
    2: 'Invalid email address, not on the suppression list, or EmailAddresses is not a JSON array',
    4: 'Invalid ListID',
  },
  async run(p, ctx) {
    const bulk = addressesOf(p);
    const single = p.emailaddress === undefined || p.emailaddress === '' ? undefined : String(p.emailaddress).trim();
    if (!bulk.given && single === undefined) throw new CommandError([1]);
    const scope = await scopeOf(ctx, p);
    if (!bulk.given) {
      if (!isEmail(single!)) throw new CommandError([2]);
      const n = await ctx.db('suppression_entries').where({ scope_key: scope.key, email: single!.toLowerCase() }).delete();
      if (!n) throw new CommandError([2]);
      return {};
    }
    if (bulk.malformedJson) throw new CommandError([2]);
    let deleted = 0;
    const lower = [...new Set(bulk.valid.map((e) => e.toLowerCase()))];
    for (let i = 0; i < lower.length; i += 500)
      deleted += Number(
        await ctx
          .db('suppression_entries')
          .where({ scope_key: scope.key })
          .whereIn('email', lower.slice(i, i + 500))
          .delete(),
      );
    return { TotalDeleted: deleted, TotalFailed: bulk.failed.length, FailedEmailAddresses: bulk.failed };
  },
});
