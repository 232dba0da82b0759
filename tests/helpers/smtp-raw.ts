import net from 'node:net';
import { waitFor } from './sink';

/**
 * A plain SMTP client on a raw socket, for what libraries will not send (bare LF, bare CR, two From headers):
 * `send` writes bytes as given; `reply` waits for the next complete reply (its last line has a space after
 * the code) and returns it, multi-line replies joined.
 */
export interface RawSmtp {
  send(bytes: string | Buffer): void;
  reply(): Promise<string>;
  /** Everything received and not yet returned by `reply`. */
  pending(): string;
  close(): void;
  /** The socket underneath (to start TLS on it after STARTTLS). */
  socket: net.Socket;
}

export async function rawSmtp(port: number): Promise<RawSmtp> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const client = smtpOver(socket);
  await client.reply();
  return client;
}

/** RawSmtp over a socket already open (a TLS one after STARTTLS, say); reads only what arrives from now on. */
export function smtpOver(socket: net.Socket): RawSmtp {
  let buffer = '';
  socket.on('data', (d: Buffer) => (buffer += d.toString('latin1')));
  const complete = /^(?:\d{3}-.*\r\n)*\d{3}(?: .*)?\r\n/;
  return {
    send: (bytes) => void socket.write(bytes),
    async reply() {
      await waitFor(() => complete.test(buffer), 15_000, 'an SMTP reply');
      const m = complete.exec(buffer)!;
      buffer = buffer.slice(m[0].length);
      return m[0].trimEnd();
    },
    pending: () => buffer,
    close: () => socket.destroy(),
    socket,
  };
}

/** Sends one command line and answers the reply to it. */
export async function say(c: RawSmtp, line: string): Promise<string> {
  c.send(`${line}\r\n`);
  return c.reply();
}

/** EHLO and AUTH PLAIN, then MAIL FROM, RCPT TO and DATA up to the 354; throws on any unexpected reply. */
export async function openData(port: number, auth: { user: string; pass: string }, mailFrom: string, rcptTo: string[]): Promise<RawSmtp> {
  const c = await rawSmtp(port);
  const step = async (line: string, code: string) => {
    c.send(`${line}\r\n`);
    const r = await c.reply();
    if (!r.startsWith(code)) throw new Error(`${line.slice(0, 40)} answered ${r}`);
  };
  await step('EHLO client.test', '250');
  await step(`AUTH PLAIN ${Buffer.from(`\0${auth.user}\0${auth.pass}`).toString('base64')}`, '235');
  await step(`MAIL FROM:<${mailFrom}>`, '250');
  for (const r of rcptTo) await step(`RCPT TO:<${r}>`, '250');
  await step('DATA', '354');
  return c;
}
