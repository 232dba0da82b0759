import type { SMTPServerSession } from 'smtp-server';
import { connectionDeadline } from './auth-deadline';

/**
 * Authenticated relay connections per account, in this process. The per-address cap alone let one sender spread over
 * a few dozen addresses (or IPv6 /64s) hold every slot of the listener and shut every other tenant out of the relay.
 */
export class AccountConnections {
  private readonly open = new Map<number, number>();
  private readonly counted = new WeakMap<SMTPServerSession, number>();

  constructor(private readonly max: number) {}

  /** Counts the session for the account (once, however often it authenticates); false when the account holds `max`. */
  take(session: SMTPServerSession, account: number): boolean {
    const before = this.counted.get(session);
    if (before === account) return true;
    if (before !== undefined) this.release(session);
    const n = this.open.get(account) ?? 0;
    if (n >= this.max) return false;
    this.open.set(account, n + 1);
    this.counted.set(session, account);
    return true;
  }

  release(session: SMTPServerSession | undefined): void {
    const account = session && this.counted.get(session);
    if (account === undefined) return;
    this.counted.delete(session!);
    const n = (this.open.get(account) ?? 1) - 1;
    if (n > 0) this.open.set(account, n);
    else this.open.delete(account);
  }

  /** Open authenticated connections of the account (for tests and diagnostics). */
  of(account: number): number {
    return this.open.get(account) ?? 0;
  }
}

/**
 * Ends a relay connection `ms` after it opened (SMTP_SESSION_MAX_SECONDS), authenticated or not: smtp-server's idle
 * timeout counts only silence, so a client sending NOOP now and then held its slot for ever. A message being sent
 * is never cut: while a transaction is open the close waits for it to end, then comes before the next MAIL FROM.
 */
export function sessionLifetime(ms: number) {
  const text = `4.4.2 Session open ${Math.round(ms / 1000)} s, the most this server allows; reconnect to send more`;
  return connectionDeadline(
    ms,
    () => text,
    undefined,
    (session) => !!session.envelope?.mailFrom,
  );
}
