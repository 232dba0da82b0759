import type { CommandContext } from '../command';

/** Failed logins allowed per client IP and account name, and per client IP alone, in 15 minutes. */
const PER_ACCOUNT = 10;
const PER_IP = 100;
const WINDOW_SEC = 15 * 60;

function keys(ctx: CommandContext, kind: string, name: string) {
  return {
    account: ctx.limits.limit(`${kind}-login-fail`, PER_ACCOUNT, WINDOW_SEC),
    accountKey: `${ctx.ip}|${name.toLowerCase()}`,
    ip: ctx.limits.limit(`${kind}-login-fail-ip`, PER_IP, WINDOW_SEC),
  };
}

/** Seconds to wait when this client has failed too often, else 0. Checked before any password work. */
export async function loginBlockedFor(ctx: CommandContext, kind: 'user' | 'admin', name: string): Promise<number> {
  const k = keys(ctx, kind, name);
  const [a, b] = await Promise.all([k.account.peek(k.accountKey), k.ip.peek(ctx.ip)]);
  return Math.max(a.retryAfterSec, b.retryAfterSec);
}

export async function recordLoginFailure(ctx: CommandContext, kind: 'user' | 'admin', name: string): Promise<void> {
  const k = keys(ctx, kind, name);
  await Promise.all([k.account.consume(k.accountKey), k.ip.consume(ctx.ip)]);
}

export async function clearLoginFailures(ctx: CommandContext, kind: 'user' | 'admin', name: string): Promise<void> {
  const k = keys(ctx, kind, name);
  await k.account.reset(k.accountKey);
}
