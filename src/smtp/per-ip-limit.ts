import type { SMTPServerSession } from 'smtp-server';
import { clientPrefix } from '../auth/client-prefix';
import { canonicalIp } from '../auth/users';
import { reply } from './reply';

/**
 * smtp-server hooks that hold each client address (an IPv6 one by its /64: clientPrefix) to `max` open connections
 * (421 beyond). smtp-server also calls onClose for a connection onConnect refused, so only connections that were
 * counted are taken off again: otherwise every refused connection freed a slot, and a client retrying past the cap
 * got through on its next try.
 */
export function perIpConnectionLimit(max: number) {
  const open = new Map<string, number>();
  const counted = new Set<string>(); // session ids
  return {
    onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
      const ip = clientPrefix(canonicalIp(session.remoteAddress));
      const n = (open.get(ip) ?? 0) + 1;
      if (n > max) return cb(reply(421, '4.7.0 Too many connections from your address; try again later'));
      open.set(ip, n);
      counted.add(session.id);
      cb();
    },
    onClose(session: SMTPServerSession | undefined): void {
      if (!session || !counted.delete(session.id)) return;
      const ip = clientPrefix(canonicalIp(session.remoteAddress));
      const n = (open.get(ip) ?? 1) - 1;
      if (n <= 0) open.delete(ip);
      else open.set(ip, n);
    },
  };
}
