/** user.create (admin) — a new user account. Errors are arrays: see USER_FIELD_ERRORS (1 group, 2 email, 3 username, 4 password, 6 name, 8 time zone, 9 language, 10–20 invalid values). */
import { defineCommand } from '../src/command';
import { isUniqueViolation } from '../src/db';
import { CommandError } from '../src/errors';
import { USER_FIELD_ERRORS, userColumns } from '../src/auth/user-fields';

export default defineCommand({
  name: 'user.create',
  auth: 'admin',
  arrayErrors: true,
  errors: { 1: 'Missing required parameter (RelUserGroupID)', ...USER_FIELD_ERRORS },
  async run(p, ctx) {
    const cols = await userColumns(ctx.db, p, null, ctx.config.passwordHashCost);
    const now = Date.now();
    try {
      const [id] = await ctx.db('users').insert({ ...cols, created_at: now, updated_at: now });
      return { UserID: Number(id) };
    } catch (err) {
      // A concurrent create took the name or address between our check and the insert.
      if (isUniqueViolation(err)) throw new CommandError([/email/i.test(String((err as Error).message)) ? 13 : 12]);
      throw err;
    }
  },
});
