/**
 * emailgateway.replaceapi — atomically drop every key of the domain and issue one new key. Errors: 1 Description,
 * 2 DomainID, 3 not found/denied, 4 rolled back, 5 the caller is IP-restricted (a user key with a BoundIPAddress, or a
 * session opened with one): the new sender key would work from any address; the domain's keys are left as they are;
 * 6 the domain is being deleted (src/domains/deleting.ts), its keys left as they are.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { insertSenderKey } from '../src/credentials/sender-keys';
import { findOwnedDomain } from '../src/domains/domains';
import { refuseUnboundCredential } from '../src/credentials/key-reach';
import { DOMAIN_DELETING_TEXT, markedUnderAccountLock } from '../src/domains/deleting';
import { lockUserRow } from '../src/auth/users';

export default defineCommand({
  name: 'emailgateway.replaceapi',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (Description)',
    2: 'Missing required parameter (DomainID)',
    3: 'Domain not found or access denied',
    4: 'The key could not be replaced; nothing was changed. Try again.',
    5: 'An IP-restricted key (or a session opened with one) cannot make sender API keys: they work from any address',
    6: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 6: 409 },
  async run(p, ctx) {
    refuseUnboundCredential(ctx, 5, 'sender API keys');
    const userId = ctx.user!.id;
    const domain = await findOwnedDomain(ctx.db, userId, p.domainid);
    if (!domain) throw new CommandError(3);
    try {
      return await ctx.db.transaction(async (trx) => {
        await lockUserRow(trx, userId);
        if (!(await trx('sender_domains').where({ id: domain.id, user_id: userId }).first('id'))) throw new CommandError(3);
        if (await markedUnderAccountLock(trx, domain.id)) throw new CommandError(6);
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
