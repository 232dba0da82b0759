/** emailgateway.deleteapi — revoke a sender API key. Errors: 1 missing APIKeyID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';

export default defineCommand({
  name: 'emailgateway.deleteapi',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (APIKeyID)', 2: 'API Key not found or access denied' },
  async run(p, ctx) {
    const deleted = await ctx
      .db('domain_api_keys')
      .where({ id: Number(p.apikeyid), user_id: ctx.user!.id })
      .delete();
    if (!deleted) throw new CommandError(2);
    return {};
  },
});
