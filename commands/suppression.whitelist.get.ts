/** suppression.whitelist.get — the account's whitelist (see suppression.whitelist.set). No business errors. */
import { defineCommand } from '../src/command';

export default defineCommand({
  name: 'suppression.whitelist.get',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: {},
  async run(_p, ctx) {
    return { Entries: (await ctx.db('suppression_whitelist').where({ user_id: ctx.user!.id }).orderBy('entry').pluck('entry')) as string[] };
  },
});
