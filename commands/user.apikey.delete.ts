/** user.apikey.delete — revoke one of the caller's API keys. Errors: 1 missing APIKeyID, 2 not found. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';

export default defineCommand({
  name: 'user.apikey.delete',
  auth: 'user',
  permission: 'User.Update',
  // As every user-area v1 route (USER_AREA): 100 requests a minute per credential.
  rateLimit: { durationSec: 60 },
  omitSuccessErrorCode: true,
  errors: { 1: 'Missing required parameter (APIKeyID)', 2: 'API key not found' },
  async run(p, ctx) {
    const deleted = await ctx
      .db('user_api_keys')
      .where({ id: Number(p.apikeyid), user_id: ctx.user!.id })
      .delete();
    if (!deleted) throw new CommandError(2);
    return {};
  },
});
