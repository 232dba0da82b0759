/**
 * user.login — Username + Password (or APIKey) → SessionID + UserInfo. A session opened with an APIKey has that
 * key's Permissions and IP binding, and ends when the key is deleted.
 * Errors (arrays): 1 missing Username, 2 missing Password, 3 invalid login, 4 too many failures (throttled), 5 account disabled.
 */
import { rehashIfNeeded } from '../src/auth/rehash';
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { createSession } from '../src/auth/sessions';
import { findUser, findUserApiKey, isEnabled } from '../src/auth/users';
import type { UserRow } from '../src/command';
import { chargeLoginAttempt, gatedPasswordCheck, LoginName, recordLoginSuccess } from '../src/auth/login-throttle';

export default defineCommand({
  name: 'user.login',
  auth: 'none',
  arrayErrors: true,
  errors: {
    1: 'Missing required parameter (Username)',
    2: 'Missing required parameter (Password)',
    3: 'Invalid login information',
    4: 'Too many failed login attempts',
    5: 'Account is disabled',
  },
  async run(p, ctx) {
    // An empty APIKey is no key: form clients send every field, filled or not, beside a username and password.
    if (p.apikey === '') delete p.apikey;
    let user: UserRow | undefined;
    let apiKeyId: number | null = null;
    // The account the name matches, found first: the failed-login counts are kept per account (login-throttle.ts).
    const candidate: UserRow | undefined =
      p.apikey !== undefined
        ? undefined
        : await ctx
            .db('users')
            .whereRaw('lower(username) = ?', [String(p.username).toLowerCase()])
            .first();
    const account: LoginName =
      p.apikey !== undefined ? { key: true } : { username: String(p.username), accountId: candidate ? Number(candidate.id) : undefined };
    const wait = await chargeLoginAttempt(ctx, 'user', account);
    if (wait > 0) throw new CommandError([4], `Too many failed login attempts: try again in ${wait} seconds`);
    if (p.apikey !== undefined) {
      const key = await findUserApiKey(ctx.db, String(p.apikey));
      if (key && (!key.bound_ip || key.bound_ip === ctx.ip)) {
        user = await findUser(ctx.db, Number(key.user_id));
        apiKeyId = Number(key.id);
        await ctx
          .db('user_api_keys')
          .where({ id: key.id })
          .update({ last_used_at: Date.now(), last_used_ip: ctx.ip, request_count: ctx.db.raw('request_count + 1') });
      }
    } else {
      const password = String(p.password);
      const busy = new CommandError([4], 'Too many sign-ins on this server at once: try again in a few seconds');
      const matches = await gatedPasswordCheck(ctx, 'user', account, busy, async () => {
        if (!candidate) return ctx.passwords.burn(password, ctx.config.passwordHashCost).then(() => false);
        // A miss is padded to the burn's cost: a hash older than a raised PASSWORD_HASH_COST checks faster (padCosts).
        return ctx.passwords.verify(password, candidate.password_hash, ctx.config.passwordHashCost);
      });
      if (matches) user = candidate;
      if (matches && candidate && isEnabled(candidate)) await rehashIfNeeded(ctx, 'users', Number(candidate.id), candidate.password_hash, password);
    }
    // A failure keeps the charge made before the check (chargeLoginAttempt).
    if (!user) throw new CommandError([3]);
    if (!isEnabled(user)) throw new CommandError([5]);
    await recordLoginSuccess(ctx, 'user', account);
    // A session opened with an API key keeps to that key's Permissions and IP binding (src/auth/authenticate.ts).
    const SessionID = await createSession(ctx.db, 'user', user.id, apiKeyId);
    return {
      ErrorText: '',
      SessionID,
      UserInfo: {
        UserID: user.id,
        Username: user.username,
        EmailAddress: user.email_address,
        FirstName: user.first_name,
        LastName: user.last_name,
        AccountStatus: user.account_status,
      },
    };
  },
});
