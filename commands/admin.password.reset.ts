/**
 * admin.password.reset (admin) — gives the admin account a new generated password, returned once (only its hash is
 * stored); the admin's open sessions end. For an operator who lost the first-start banner: `postern admin reset-password`.
 */
import { defineCommand } from '../src/command';
import { resetAdminPassword } from '../src/auth/admin';

export default defineCommand({
  name: 'admin.password.reset',
  auth: 'admin',
  errors: {},
  async run(_p, ctx) {
    const { username, password } = await resetAdminPassword(ctx.db, ctx.config.passwordHashCost);
    return { Username: username, Password: password };
  },
});
