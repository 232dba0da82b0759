/** emailgateway.deletedomain — delete a sender domain with its DKIM key, API keys, SMTP credentials, suppression list and message history. Errors: 1 missing DomainID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.deletedomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const deleted = await ctx.db.transaction(async (trx) => {
      await trx('domain_api_keys').where({ domain_id: row.id }).delete();
      await trx('smtp_credentials').where({ domain_id: row.id }).delete();
      // Its message history goes with it (messages, deliveries and suppressions cascade; events have no key).
      await trx('events').where({ domain_id: row.id }).delete();
      return Number(await trx('sender_domains').where({ id: row.id, user_id: ctx.user!.id }).delete());
    });
    if (!deleted) throw new CommandError(2);
    return {};
  },
});
