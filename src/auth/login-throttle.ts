import type { CommandContext } from '../command';
import { clientPrefix } from './client-prefix';

/** Failed logins allowed per client (clientPrefix) and account name, and per client alone, in 15 minutes. */
const PER_ACCOUNT = 10;
const PER_IP = 100;
const WINDOW_SEC = 15 * 60;

function keys(ctx: CommandContext, kind: string, name: string) {
  const client = clientPrefix(ctx.ip);
  return {
    account: ctx.limits.limit(`${kind}-login-fail`, PER_ACCOUNT, WINDOW_SEC),
    accountKey: `${client}|${name.toLowerCase()}`,
    ip: ctx.limits.limit(`${kind}-login-fail-ip`, PER_IP, WINDOW_SEC),
    client,
  };
}

/** Seconds to wait when this client has failed too often, else 0. Checked before any password work. */
export async function loginBlockedFor(ctx: CommandContext, kind: 'user' | 'admin', name: string): Promise<number> {
  const k = keys(ctx, kind, name);
  const [a, b] = await Promise.all([k.account.peek(k.accountKey), k.ip.peek(k.client)]);
  return Math.max(a.retryAfterSec, b.retryAfterSec);
}

export async function recordLoginFailure(ctx: CommandContext, kind: 'user' | 'admin', name: string): Promise<void> {
  const k = keys(ctx, kind, name);
  await Promise.all([k.account.consume(k.accountKey), k.ip.consume(k.client)]);
}

export async function clearLoginFailures(ctx: CommandContext, kind: 'user' | 'admin', name: string): Promise<void> {
  const k = keys(ctx, kind, name);
  await k.account.reset(k.accountKey);
}
