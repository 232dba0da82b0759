/** user.update (admin) — change a user's profile, status, flags, limits or password. Errors: 1 missing UserID, 2 not found, 5–20 as user.create. */
import { defineCommand } from '../src/command';
import { isUniqueViolation } from '../src/db';
import { CommandError } from '../src/errors';
import { endSubjectSessions } from '../src/auth/sessions';
import { USER_FIELD_ERRORS, userColumns } from '../src/auth/user-fields';
import { findUser, presentUserInfo } from '../src/auth/users';
import { releaseSwitchedOn } from '../src/delivery/switched-off-hold';

export default defineCommand({
  name: 'user.update',
  auth: 'admin',
  arrayErrors: true,
  errors: { ...USER_FIELD_ERRORS, 1: 'Missing required parameter (UserID)', 2: 'User not found' },
  async run(p, ctx) {
    const id = Number(p.userid);
    const before = await findUser(ctx.db, id);
    if (!before) throw new CommandError([2]);
    const cols = await userColumns(ctx.db, p, id, ctx.config.passwordHashCost);
    try {
      await ctx
        .db('users')
        .where({ id })
        .update({ ...cols, updated_at: Date.now() });
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
    return { UserInfo: presentUserInfo(user) };
  },
});
