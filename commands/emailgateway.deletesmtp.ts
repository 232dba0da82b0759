/** emailgateway.deletesmtp — delete SMTP credentials. Errors: 1 missing SMTPID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';

export default defineCommand({
  name: 'emailgateway.deletesmtp',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (SMTPID)', 2: 'SMTP credentials not found or access denied' },
  async run(p, ctx) {
    const deleted = await ctx
      .db('smtp_credentials')
      .where({ id: Number(p.smtpid), user_id: ctx.user!.id })
      .delete();
    if (!deleted) throw new CommandError(2);
    return {};
  },
});
