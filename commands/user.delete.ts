/**
 * user.delete (admin) — delete users (UserID, or Users as a comma-separated list) and everything they own: domains,
 * keys, sessions, events and counters here, the rest (messages, lists, templates, campaigns, webhooks, suppressions,
 * stats) by foreign-key cascade (tests/commands/user.delete-data.test.ts checks every table); the large tables a run
 * at a time first (src/accounts/purge.ts), the accounts and their domains marked as being deleted meanwhile (nothing
 * switches them back on; a call cut short is finished by the same call). No suppression is kept for the owner, who
 * goes too. Errors: 1 missing, 2 not found.
 */
import { defineCommand } from '../src/command';
import { deleteUsers } from '../src/accounts/purge';
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
    const found = await ctx.db('users').whereIn('id', ids).pluck('id');
    if (found.length !== ids.length) throw new CommandError(2);
    await deleteUsers(ctx.db, ctx.config.deleteChunkRows, ids, () => ctx.store.forgetCredentials());
    return {};
  },
});
