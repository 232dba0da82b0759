/** admin.login — AdminAPIKey, or the admin's Username + Password → SessionID + AdminInfo. Errors: 1 missing Username, 2 missing Password, 3 invalid credentials, 4 throttled. */
import { rehashIfNeeded } from '../src/auth/rehash';
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { checkAdminPassword, findAdminByName, isAdminApiKey } from '../src/auth/admin';
import { createSession } from '../src/auth/sessions';
import { chargeLoginAttempt, gatedPasswordCheck, LoginName, recordLoginSuccess } from '../src/auth/login-throttle';

export default defineCommand({
  name: 'admin.login',
  auth: 'none',
  errors: {
    1: 'Missing required parameter (Username)',
    2: 'Missing required parameter (Password)',
    3: 'Invalid admin credentials',
    4: 'Too many failed login attempts',
  },
  async run(p, ctx) {
    // An empty AdminAPIKey is no key: form clients send every field, filled or not, beside a username and password.
    if (p.adminapikey === '') delete p.adminapikey;
    let adminId: number | null = null;
    // The admin the name matches, found first: the failed-login counts are kept per account (login-throttle.ts).
    const matched = p.adminapikey !== undefined ? undefined : await findAdminByName(ctx.db, String(p.username));
    const account: LoginName =
      p.adminapikey !== undefined ? { key: true } : { username: String(p.username), accountId: matched ? Number(matched.id) : undefined };
    const wait = await chargeLoginAttempt(ctx, 'admin', account);
    if (wait > 0) throw new CommandError(4, `Too many failed login attempts: try again in ${wait} seconds`);
    if (p.adminapikey !== undefined) {
      if (await isAdminApiKey(ctx.db, ctx.config, String(p.adminapikey))) {
        const first = await ctx.db('admins').orderBy('id').first('id');
        adminId = first ? Number(first.id) : null;
      }
    } else {
      const busy = new CommandError(4, 'Too many sign-ins on this server at once: try again in a few seconds');
      adminId = await gatedPasswordCheck(ctx, 'admin', account, busy, () =>
        checkAdminPassword(ctx.passwords, matched, String(p.password), ctx.config.passwordHashCost),
      );
    }
    // A failure keeps the charge made before the check (chargeLoginAttempt).
    if (adminId === null) throw new CommandError(3);
    if (matched) await rehashIfNeeded(ctx, 'admins', adminId, matched.password_hash, String(p.password));
    await recordLoginSuccess(ctx, 'admin', account);
    const admin = await ctx.db('admins').where({ id: adminId }).first();
    const SessionID = await createSession(ctx.db, 'admin', adminId);
    return { SessionID, AdminInfo: { AdminID: adminId, Username: admin.username, EmailAddress: admin.email_address } };
  },
});
