import ipaddr from 'ipaddr.js';
import type { CommandContext } from '../command';

/** Failed logins allowed per client (clientOf) and account name, and per client alone, in 15 minutes. */
const PER_ACCOUNT = 10;
const PER_IP = 100;
const WINDOW_SEC = 15 * 60;

/**
 * The client as the throttle counts it: an IPv4 address, or an IPv6 address's /64. One IPv6 host is usually given a
 * whole /64, so counting single addresses would let it try again from each of 2^64 of them.
 */
function clientOf(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const a = ipaddr.process(ip);
  if (a.kind() === 'ipv4') return a.toString();
  const parts = (a as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}

function keys(ctx: CommandContext, kind: string, name: string) {
  const client = clientOf(ctx.ip);
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
