/**
 * user.update (admin) — change a user's profile, status, flags, limits or password. Errors: 1 missing UserID, 2 not
 * found, 5–21 as user.create, 22 the account is being deleted (user.delete begun and not finished: its suppression
 * lists are going, so it must not be switched back on; src/domains/deleting.ts).
 */
import { defineCommand } from '../src/command';
import { isUniqueViolation } from '../src/db';
import { CommandError } from '../src/errors';
import { endSubjectSessions } from '../src/auth/sessions';
import { USER_FIELD_ERRORS, userColumns } from '../src/auth/user-fields';
import { findUser } from '../src/auth/users';
import { presentUserForAdmin } from '../src/accounts/admin-view';
import { releaseSwitchedOn } from '../src/delivery/switched-off-hold';
import { ACCOUNT_DELETING_TEXT, isDeleting } from '../src/domains/deleting';

const DELETING = 22;

export default defineCommand({
  name: 'user.update',
  auth: 'admin',
  arrayErrors: true,
  errors: { ...USER_FIELD_ERRORS, 1: 'Missing required parameter (UserID)', 2: 'User not found', [DELETING]: ACCOUNT_DELETING_TEXT },
  async run(p, ctx) {
    const id = Number(p.userid);
    const before = await findUser(ctx.db, id);
    if (!before) throw new CommandError([2]);
    if (isDeleting(before)) throw new CommandError([DELETING]);
    const cols = await userColumns(ctx.db, p, id, ctx.config.passwordHashCost);
    try {
      // A deletion begun since `before` was read has switched the account off: the mark in the statement keeps it off.
      const n = await ctx
        .db('users')
        .where({ id })
        .whereNull('deleting_at')
        .update({ ...cols, updated_at: Date.now() });
      if (!n) throw new CommandError((await findUser(ctx.db, id)) ? [DELETING] : [2]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CommandError([/email/i.test(String((err as Error).message)) ? 13 : 12]);
      throw err;
    }
    // A new password or a disabled account ends every open session of that user.
    if (cols.password_hash !== undefined || cols.account_status === 'Disabled') await endSubjectSessions(ctx.db, 'user', id);
    // Enabled again: its mail held while it was disabled goes out (what this cannot release, the sweeper does).
    if (cols.account_status === 'Enabled' && before.account_status !== 'Enabled')
      await releaseSwitchedOn(ctx, { user_id: id }).catch((err) =>
        ctx.logger.warn('mail held for a disabled account not released; the sweeper will', { userId: id, error: (err as Error).message }),
      );
    const user = await findUser(ctx.db, id);
    if (!user) throw new CommandError([2]);
    return { UserInfo: presentUserForAdmin(user) };
  },
});
