/** user.delete (admin) — delete users (UserID, or Users as a comma-separated list) and everything they own: domains, keys, sessions, events and counters here, the rest (messages, lists, templates, campaigns, webhooks, suppressions, stats) by foreign-key cascade (tests/commands/user.delete-data.test.ts checks every table). Errors: 1 missing, 2 not found. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';

export default defineCommand({
  name: 'user.delete',
  auth: 'admin',
  errors: { 1: 'Missing required parameter (UserID or Users)', 2: 'User not found' },
  async run(p, ctx) {
    const ids = [
      ...new Set(
        p.userid !== undefined
          ? [Number(p.userid)]
          : String(p.users)
              .split(',')
              .map((s) => Number(s.trim())),
      ),
    ];
    await ctx.db.transaction(async (trx) => {
      const found = await trx('users').whereIn('id', ids).pluck('id');
      if (found.length !== ids.length) throw new CommandError(2);
      const domainIds = await trx('sender_domains').whereIn('user_id', ids).pluck('id');
      await trx('domain_api_keys').whereIn('user_id', ids).delete();
      await trx('smtp_credentials').whereIn('user_id', ids).delete();
      if (domainIds.length) await trx('sender_domains').whereIn('id', domainIds).delete();
      await trx('user_api_keys').whereIn('user_id', ids).delete();
      await trx('events').whereIn('user_id', ids).delete();
      await trx('usage_counters').whereIn('user_id', ids).delete();
      await trx('sessions').where({ kind: 'user' }).whereIn('subject_id', ids).delete();
      await trx('users').whereIn('id', ids).delete();
    });
    return {};
  },
});
