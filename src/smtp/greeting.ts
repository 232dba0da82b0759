/**
 * smtp-server holds every new connection's greeting for 100 ms to catch clients that talk before it (an
 * early-talker check, in `SMTPConnection.init`, with no option to change it). On an MX port that is a spam
 * heuristic; on a submission port, where every client authenticates or is a trusted app server, it only adds
 * 100 ms to every message a non-pooling client sends (PHPMailer and most framework mailers open one connection
 * per message), and it caps 20 such clients at 200 messages per second. Postfix's smtpd does not pause either.
 *
 * A server created with the extra option `greetingDelayMs` greets after that many milliseconds instead
 * (0: at once). Servers without the option keep the library's own behaviour. The override uses three of the
 * connection's internals (`_setListeners`, `_server`, `connectionReady`); if a new smtp-server version lacks
 * them, nothing is changed and `greetingDelayAvailable()` says so (a test fails on it).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a private module of smtp-server, not in its exports or types
const { SMTPConnection } = require('smtp-server/lib/smtp-connection') as { SMTPConnection: { prototype: ConnectionInternals } };

interface ConnectionInternals {
  init(this: ConnectionInternals): void;
  connectionReady(this: ConnectionInternals): void;
  _setListeners(this: ConnectionInternals, callback: () => void): void;
  send(this: ConnectionInternals, code: number, text: string, command: false): void;
  name: string;
  _server: { options: { greetingDelayMs?: unknown; maxClients?: number }; connections: Set<unknown> };
}

const proto = SMTPConnection.prototype;
const usable = typeof proto.init === 'function' && typeof proto.connectionReady === 'function' && typeof proto._setListeners === 'function';

if (usable && !(proto.init as { posternGreeting?: boolean }).posternGreeting) {
  const libraryInit = proto.init;
  const init = function (this: ConnectionInternals): void {
    const delay = this._server?.options?.greetingDelayMs;
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) return libraryInit.call(this);
    this._setListeners(() => {
      const max = this._server.options.maxClients;
      if (max && this._server.connections.size > max) return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      const timer = setTimeout(() => this.connectionReady(), delay);
      timer.unref();
    });
  };
  (init as { posternGreeting?: boolean }).posternGreeting = true;
  proto.init = init;
}

/** Whether `greetingDelayMs` takes effect with the installed smtp-server. */
export function greetingDelayAvailable(): boolean {
  return usable;
}
