/** admin.logout — ends the admin session (a no-op when called with the AdminAPIKey). */
import { defineCommand } from '../src/command';
import { endSession } from '../src/auth/sessions';

export default defineCommand({
  name: 'admin.logout',
  auth: 'admin',
  errors: {},
  async run(_p, ctx) {
    if (ctx.sessionHash) await endSession(ctx.db, ctx.sessionHash);
    return {};
  },
});
