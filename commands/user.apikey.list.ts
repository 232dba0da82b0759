/** user.apikey.list — the caller's API keys (Octeth user keys and account keys), masked to their last four characters. */
import { defineCommand } from '../src/command';
import { presentApiKeys } from '../src/credentials/account-key-fields';

export default defineCommand({
  name: 'user.apikey.list',
  auth: 'user',
  permission: 'User.Update',
  // As every user-area v1 route (USER_AREA): 100 requests a minute per credential.
  rateLimit: { durationSec: 60 },
  omitSuccessErrorCode: true,
  errors: {},
  async run(_p, ctx) {
    const rows = await ctx.db('user_api_keys').where({ user_id: ctx.user!.id }).orderBy('id');
    return { APIKeys: await presentApiKeys(ctx.db, rows) };
  },
});
