import type { CommandContext } from '../command';
import type { CommandError } from '../errors';
import { clientPrefix } from './client-prefix';
import { PasswordGateBusy } from './password-gate';

/** Failed logins allowed per client (clientPrefix) and account, and per client alone, in 15 minutes. */
const PER_ACCOUNT = 10;
const PER_IP = 100;
/**
 * Failed password logins allowed for one account from every client together in 15 minutes: a guesser spread over
 * many networks gets 50 tries, not 10 per address it controls. Past it, only clients known to the account (one
 * that logged in to it in the last 14 days) may still try, so the owner is not locked out by someone else's
 * guessing; anyone may still sign in with an API key.
 */
const PER_ACCOUNT_ALL = 50;
const WINDOW_SEC = 15 * 60;
// Below 24.8 days: the embedded limiter expires keys with a setTimeout, which fires at once past 2^31 ms.
const KNOWN_SEC = 14 * 24 * 3600;

/**
 * Who is logging in: an account name and password, or a key (a random secret; no one account to guess at). `accountId`
 * is the account the name matched, when one did: counted by it, names the database reads as the same account
 * (MySQL's collation ignores case, trailing spaces and accents) share one count.
 */
export type LoginName = { username: string; accountId?: number } | { key: true };

function keys(ctx: CommandContext, kind: 'user' | 'admin', who: LoginName) {
  const client = clientPrefix(ctx.ip);
  // Prefixed, so that an account named like a key login ("apikey") shares no count with key logins.
  const account = !('username' in who) ? 'k:' : who.accountId !== undefined ? `id:${who.accountId}` : `u:${who.username.toLowerCase()}`;
  return {
    account: ctx.limits.limit(`${kind}-login-fail`, PER_ACCOUNT, WINDOW_SEC),
    accountKey: `${client}|${account}`,
    accountName: account,
    ip: ctx.limits.limit(`${kind}-login-fail-ip`, PER_IP, WINDOW_SEC),
    client,
    // Only accounts with a name can be guessed at from everywhere at once.
    everywhere: 'username' in who ? ctx.limits.limit(`${kind}-login-fail-all`, PER_ACCOUNT_ALL, WINDOW_SEC) : null,
    // A one-point counter used as a 14-day mark: spent means this client has logged in to this account.
    known: ctx.limits.limit(`${kind}-login-known`, 1, KNOWN_SEC),
  };
}

/**
 * Charges a login attempt to this client and account before any password work, and answers the seconds to wait
 * (0: go ahead). Charged first, not after a failure: attempts sent together (many connections at once) would each
 * see the counts before any had added to them, and every one would get its password checked. A success refunds its
 * charge (recordLoginSuccess), so only failures and refused attempts stay counted.
 */
export async function chargeLoginAttempt(ctx: CommandContext, kind: 'user' | 'admin', who: LoginName): Promise<number> {
  const k = keys(ctx, kind, who);
  const [a, b, all] = await Promise.all([k.account.consume(k.accountKey), k.ip.consume(k.client), k.everywhere?.consume(k.accountName)]);
  let wait = Math.max(a.retryAfterSec, b.retryAfterSec);
  if (all && !all.allowed && (await k.known.peek(k.accountKey)).allowed) wait = Math.max(wait, all.retryAfterSec);
  return wait;
}

/**
 * After a successful login: this client's failures for the account are forgotten, the attempt's charge to the client
 * and to the account from everywhere is refunded, and the client is known to the account for 14 days from now. The
 * account's other failures from everywhere stay: the owner signing in does not end someone else's guessing.
 */
export async function recordLoginSuccess(ctx: CommandContext, kind: 'user' | 'admin', who: LoginName): Promise<void> {
  const k = keys(ctx, kind, who);
  await Promise.all([k.account.reset(k.accountKey), k.ip.refund(k.client), k.everywhere?.refund(k.accountName)]);
  if (!k.everywhere) return;
  await k.known.reset(k.accountKey);
  await k.known.consume(k.accountKey);
}

/**
 * Runs a login's password check through the process's gate (src/auth/password-gate.ts). When the gate is full the
 * attempt's charge is refunded (no password was tried) and it answers the throttled error, `busyError`.
 */
export async function gatedPasswordCheck<T>(
  ctx: CommandContext,
  kind: 'user' | 'admin',
  who: LoginName,
  busyError: CommandError,
  check: () => Promise<T>,
): Promise<T> {
  try {
    return await check();
  } catch (err) {
    if (!(err instanceof PasswordGateBusy)) throw err;
    const k = keys(ctx, kind, who);
    await Promise.all([k.account.refund(k.accountKey), k.ip.refund(k.client), k.everywhere?.refund(k.accountName)]);
    throw busyError;
  }
}
