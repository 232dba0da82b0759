/**
 * The addresses a key made by an IP-restricted credential may be used from. A key bound to one address (or limited
 * to a list) that could make a key usable from anywhere would make its own binding worthless, so the new key's
 * list must lie inside the caller's: none asked for = the caller's own.
 */
import ipaddr from 'ipaddr.js';
import type { CommandContext } from '../command';
import { CommandError } from '../errors';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** An address (IPv4-mapped IPv6 as IPv4, as the stored lists hold them) or CIDR range as a range; null when neither. */
function rangeOf(rule: string): Range | null {
  try {
    if (rule.includes('/')) return ipaddr.parseCIDR(rule);
    const a = ipaddr.process(rule);
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return null;
  }
}

/** True when every address `rule` covers is covered by one of `outer`'s entries (a wider range is not). */
export function ruleWithin(rule: string, outer: string[]): boolean {
  const inner = rangeOf(rule);
  if (!inner) return false;
  return outer.some((o) => {
    const r = rangeOf(o);
    return !!r && r[0].kind() === inner[0].kind() && inner[1] >= r[1] && inner[0].match(r[0], r[1]);
  });
}

/** The caller's address restriction (a bound user key, a session opened with one, an account key's AllowedIPs); null = none. */
export function callerIps(ctx: CommandContext): string[] | null {
  if (ctx.adminId !== undefined) return null;
  return ctx.credentialIps ?? null;
}

/**
 * The list a new key gets under `caller` (null = unrestricted caller: `wanted` as asked). Returns the entries of
 * `wanted` outside the caller's list as `wider` instead, so the command can name them in its refusal.
 */
export function narrowedIps(caller: string[] | null, wanted: string[] | null): { ips: string[] | null } | { wider: string[] } {
  if (caller === null) return { ips: wanted };
  if (wanted === null) return { ips: caller };
  const wider = wanted.filter((w) => !ruleWithin(w, caller));
  return wider.length ? { wider } : { ips: wanted };
}

/**
 * For commands that make or reveal a credential with no address restriction of its own (SMTP logins, sender keys):
 * an IP-restricted caller would get a secret that works from anywhere and so escape its binding. Throws the
 * command's `code`, naming the caller's addresses, when the caller is restricted; does nothing otherwise.
 */
export function refuseUnboundCredential(ctx: CommandContext, code: number, what: string): void {
  const caller = callerIps(ctx);
  if (caller === null) return;
  throw new CommandError(
    code,
    `This credential may be used only from ${caller.join(', ')}, and ${what} work from any address: ask with a session opened with the account's password, or with a key that has no BoundIPAddress`,
  );
}
