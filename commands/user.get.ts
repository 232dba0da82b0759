/** user.get (admin) — one user's account, with DeletionStartedAt as users.get. Errors: 1 missing UserID, 2 not found. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findUser } from '../src/auth/users';
import { presentUserForAdmin } from '../src/accounts/admin-view';

export default defineCommand({
  name: 'user.get',
  auth: 'admin',
  errors: { 1: 'Missing required parameter (UserID)', 2: 'User not found' },
  async run(p, ctx) {
    const user = await findUser(ctx.db, Number(p.userid));
    if (!user) throw new CommandError(2);
    return { UserInfo: presentUserForAdmin(user) };
  },
});
