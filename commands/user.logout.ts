/** user.logout — ends the caller's session (a no-op for APIKey callers, whose key stays valid). */
import { defineCommand } from '../src/command';
import { endSession } from '../src/auth/sessions';

export default defineCommand({
  name: 'user.logout',
  auth: 'user',
  errors: {},
  async run(_p, ctx) {
    if (ctx.sessionHash) await endSession(ctx.db, ctx.sessionHash);
    return {};
  },
});
