import type { SMTPServer, SMTPServerSession } from 'smtp-server';

/** What this reads of smtp-server's connection objects, which it keeps in `server.connections` (untyped). */
interface Connection {
  session: SMTPServerSession;
  send(code: number, text: string): void;
  close(): void;
}

/** How often a connection past its deadline but `busy` is looked at again. */
const BUSY_RECHECK_MS = 250;

/**
 * Looks at a connection `ms` after it opened and, when `closing` names a reply text for its session, sends that
 * as a 421 and closes it; null leaves it open. smtp-server's idle timeout counts only silence, so without this a
 * client sending NOOP every minute holds a connection slot for ever. `exempt` sessions get no timer; a `busy` one
 * (a message on its way) is looked at again shortly, and closed once it is not.
 */
export function connectionDeadline(
  ms: number,
  closing: (session: SMTPServerSession) => string | null,
  exempt: (session: SMTPServerSession) => boolean = () => false,
  busy: (session: SMTPServerSession) => boolean = () => false,
) {
  const timers = new Map<string, NodeJS.Timeout>();
  const arm = (server: () => SMTPServer, session: SMTPServerSession, wait: number) => {
    const timer = setTimeout(() => {
      timers.delete(session.id);
      for (const c of (server() as unknown as { connections: Set<Connection> }).connections) {
        if (c.session?.id !== session.id) continue;
        if (busy(c.session)) return arm(server, session, BUSY_RECHECK_MS);
        const text = closing(c.session);
        if (text !== null) {
          c.send(421, text);
          c.close();
        }
        return;
      }
    }, wait);
    timer.unref();
    timers.set(session.id, timer);
  };
  return {
    onConnect(server: () => SMTPServer, session: SMTPServerSession): void {
      if (!exempt(session)) arm(server, session, ms);
    },
    onClose(session: SMTPServerSession | undefined): void {
      if (!session) return;
      clearTimeout(timers.get(session.id));
      timers.delete(session.id);
    },
  };
}

/**
 * Closes a connection that has not authenticated `ms` after it opened, with a 421. The front runs with authOptional
 * (trusted clients send without AUTH), which turns off smtp-server's own cap on unauthenticated commands: a client
 * sending NOOP every minute held a connection slot for ever, and a few dozen addresses could hold every slot.
 * `exempt` names the sessions that never authenticate (trusted clients).
 */
export function authDeadline(ms: number, exempt: (session: SMTPServerSession) => boolean) {
  const text = `4.7.0 Not authenticated ${Math.round(ms / 1000)} s after connecting; closing connection`;
  return connectionDeadline(ms, (session) => (session.user ? null : text), exempt);
}
