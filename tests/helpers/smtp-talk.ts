import net from 'node:net';

/** One SMTP reply: the code, the whole text (all lines), and how long it took after the command was sent. */
export interface SmtpReply {
  code: number;
  text: string;
  ms: number;
}

/**
 * A raw SMTP session on loopback, one command at a time, so a test sees each reply and its timing (nodemailer
 * hides which step failed and how long it waited). A reply is complete at its last line (`NNN text`).
 */
export class SmtpTalk {
  private buffer = '';
  private waiting: ((reply: string) => void) | null = null;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buffer += d;
      this.deliver();
    });
    sock.on('error', () => undefined);
  }

  static async open(port: number): Promise<{ talk: SmtpTalk; greeting: SmtpReply }> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const talk = new SmtpTalk(sock);
    const greeting = await talk.reply(Date.now(), 10_000);
    return { talk, greeting };
  }

  private deliver(): void {
    const m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(this.buffer);
    if (!m || !this.waiting) return;
    const end = m.index + m[0].length;
    const text = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end);
    const w = this.waiting;
    this.waiting = null;
    w(text);
  }

  private reply(started: number, timeoutMs: number): Promise<SmtpReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no SMTP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (text) => {
        clearTimeout(timer);
        resolve({ code: Number(text.trim().split('\r\n').pop()!.slice(0, 3)), text: text.trim(), ms: Date.now() - started });
      };
      this.deliver();
    });
  }

  /** Sends one command line (CRLF added) and resolves with its reply. */
  send(line: string, timeoutMs = 15_000): Promise<SmtpReply> {
    const started = Date.now();
    this.sock.write(`${line}\r\n`);
    return this.reply(started, timeoutMs);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** AUTH PLAIN's argument. */
export function authPlain(user: string, pass: string): string {
  return Buffer.from(`\0${user}\0${pass}`).toString('base64');
}
