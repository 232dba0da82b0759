/**
 * admin.apikey.reset (admin) — replaces the install's generated AdminAPIKey with a new one, returned once (only its
 * hash is stored); the old key stops working at once, and every admin session ends with it (sign in again). Error 1:
 * the key comes from ADMIN_API_KEY: change it there and restart (the admin sessions then end at the start).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { resetAdminApiKey } from '../src/auth/admin';

export default defineCommand({
  name: 'admin.apikey.reset',
  auth: 'admin',
  errors: { 1: 'The AdminAPIKey is set by ADMIN_API_KEY in the environment: change it there and restart' },
  httpStatus: { 1: 409 },
  async run(_p, ctx) {
    if (ctx.config.adminApiKey) throw new CommandError(1);
    return { AdminAPIKey: await resetAdminApiKey(ctx.db) };
  },
});
