/** emailgateway.replaceapi — atomically drop every key of the domain and issue one new key. Errors: 1 Description, 2 DomainID, 3 not found/denied, 4 rolled back. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { insertSenderKey } from '../src/credentials/sender-keys';
import { findOwnedDomain } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.replaceapi',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (Description)',
    2: 'Missing required parameter (DomainID)',
    3: 'Domain not found or access denied',
    4: 'The key could not be replaced; nothing was changed. Try again.',
  },
  async run(p, ctx) {
    const userId = ctx.user!.id;
    const domain = await findOwnedDomain(ctx.db, userId, p.domainid);
    if (!domain) throw new CommandError(3);
    try {
      return await ctx.db.transaction(async (trx) => {
        if (!(await trx('sender_domains').where({ id: domain.id, user_id: userId }).first('id'))) throw new CommandError(3);
        await trx('domain_api_keys').where({ user_id: userId, domain_id: domain.id }).delete();
        return insertSenderKey(trx, userId, domain.id, String(p.description));
      });
    } catch (err) {
      if (err instanceof CommandError) throw err;
      ctx.logger.warn('replaceapi rolled back', { requestId: ctx.requestId, error: (err as Error).message });
      throw new CommandError(4);
    }
  },
});
