import type { Readable, Transform, Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { smtpDataParts } from './smtp-data';

/**
 * A pool of open SMTP sessions to one next hop, built on nodemailer's SMTPConnection (the same client nodemailer's
 * own pool uses, with PIPELINING, STARTTLS, SMTPUTF8 and AUTH). The worker already holds each message as finished
 * MIME with its envelope, so it hands the bytes straight to a session: nodemailer's Mailer would parse and
 * re-stream every raw message through its composer first, which cost three times the CPU of the send itself.
 */
export interface SmtpPoolOptions extends SMTPConnection.Options {
  /** Sessions open at the same time; sends beyond that wait for a free one. */
  maxConnections: number;
  /** Messages per session before it is closed and a new one opened. */
  maxMessages: number;
  /** Credentials to log in with after connecting (relay mode). */
  credentials?: { user: string; pass: string };
}

interface Session {
  conn: SMTPConnection;
  sent: number;
  dead: boolean;
  /** How the session is encrypted, read at its first delivery (it does not change within a session). */
  tls?: SessionTls | null;
}

/** The TLS of a session: protocol (`TLSv1.3`) and cipher (`TLS_AES_256_GCM_SHA384`). */
export interface SessionTls {
  protocol: string;
  cipher: string;
}

export interface SentInfo {
  response: string;
  /** The session's TLS; null when the message went in clear (no STARTTLS offered, or an smtp: relay without it). */
  tls: SessionTls | null;
}

/** The TLS of a connected session: nodemailer sets `secure` once the socket is TLS (smtps, or after STARTTLS). */
function tlsOf(conn: SMTPConnection): SessionTls | null {
  if (!conn.secure) return null;
  const socket = conn._socket as unknown as Partial<TLSSocket> | undefined;
  const protocol = socket?.getProtocol?.();
  return protocol ? { protocol, cipher: socket?.getCipher?.()?.name ?? '' } : null;
}

/** Errors about one message or its envelope leave the session usable after RSET (unless the server said 421). */
function sessionSurvives(err: SMTPConnection.SMTPError): boolean {
  return (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') && err.responseCode !== 421;
}

/** What SMTPConnection.send is handed: a source it pipes into its DataStream, and whether that has happened yet. */
interface DirectBody {
  pipe(dataStream: Writable): void;
  /** False until the body went out: a send that failed before never put a byte of the message on the wire. */
  written: boolean;
}

/**
 * The message for SMTPConnection.send, written straight to the socket once the server said 354. send() pipes what
 * it is given into a DataStream of its own that is piped to the socket; that DataStream is unpiped here and the
 * socket (SMTPConnection's `_socket`, the TLS one after STARTTLS) gets the bytes DataStream would have written
 * (smtp-data.ts: the same bytes, without a Readable, a Transform and a JavaScript loop over every byte per message),
 * in one writev. An object without `on`, so nodemailer keeps no stream of ours to destroy on close.
 */
function directBody(conn: SMTPConnection, raw: Buffer): DirectBody {
  return {
    written: false,
    pipe(dataStream) {
      this.written = true;
      const socket = conn._socket;
      // No socket to write to (never so after a 354): DataStream does it the slow way.
      if (!socket) return void dataStream.end(raw);
      (dataStream as Transform).unpipe(socket);
      socket.cork();
      for (const part of smtpDataParts(raw)) socket.write(part);
      socket.uncork();
    },
  };
}

/**
 * A reused session that was already dead when picked up: lost with no reply, or a 421 in reply to MAIL FROM, the
 * first command of the transaction. That 421 is the server's idle-timeout farewell ("421 … Timeout - closing
 * connection", Postfix's "421 4.4.2 … Error: timeout exceeded") crossing our command on the wire, not a "slow
 * down": the message goes on a fresh session instead of being deferred and feeding adaptive backoff. Later
 * replies come from a session that was alive and answering, so they stand.
 */
function sessionWasDead(err: SMTPConnection.SMTPError): boolean {
  if (err.responseCode) return err.responseCode === 421 && err.command === 'MAIL FROM';
  return err.code === 'ECONNECTION' || err.code === 'ESOCKET' || err.code === 'ETIMEDOUT';
}

/** The wait until `deadline` for setTimeout (whose longest is 2^31-1 ms); 0 once it has passed. */
function timeLeft(deadline: number): number {
  return Math.min(Math.max(0, deadline - Date.now()), 2 ** 31 - 1);
}

/** A send stopped at its attempt's deadline: no reply code, so it is deferred like a connection that timed out. */
function pastDeadline(where: string): Error {
  return Object.assign(new Error(`the delivery attempt's time ran out ${where}`), { code: 'ETIMEDOUT' });
}

/** One send's progress, as its deadline reads it. */
interface SendState {
  session: Session | null;
  late: boolean;
  body: DirectBody | null;
}

export class SmtpPool {
  private readonly idle: Session[] = [];
  private open = 0;
  private readonly waiting: ((s: Session | null) => void)[] = [];
  private closed = false;

  constructor(private readonly options: SmtpPoolOptions) {}

  private connect(track: (s: Session) => void): Promise<Session> {
    return new Promise<Session>((resolve, reject) => {
      const { maxConnections: _m, maxMessages: _n, credentials, ...connOptions } = this.options;
      const conn = new SMTPConnection(connOptions);
      const session: Session = { conn, sent: 0, dead: false };
      track(session);
      this.open += 1; // counted until drop(), which runs exactly once
      let settled = false;
      const drop = () => {
        if (session.dead) return;
        session.dead = true;
        const i = this.idle.indexOf(session);
        if (i >= 0) this.idle.splice(i, 1);
        this.open -= 1;
        this.wake();
      };
      // An error while STARTTLS's handshake runs (nodemailer's `upgrading`) is marked, whatever nodemailer calls it
      // (ETLS, or ESOCKET when the server drops the socket): under MX_TLS=may such a host gets the mail in clear.
      // `beforeTls`: the session had no TLS yet, so a reply it carries (the greeting's, EHLO's) is unauthenticated.
      const marked = (err: Error) =>
        Object.assign(err, {
          ...((conn as unknown as { upgrading?: boolean }).upgrading ? { tlsHandshake: true } : {}),
          ...(conn.secure ? {} : { beforeTls: true }),
        });
      // A session that dies while idle (the server timed it out) simply leaves the pool.
      conn.on('error', (err) => {
        drop();
        if (!settled) {
          settled = true;
          reject(marked(err));
        }
      });
      conn.once('end', drop);
      conn.connect((err) => {
        if (err) {
          drop();
          conn.close();
          if (!settled) {
            settled = true;
            reject(marked(err));
          }
          return;
        }
        const ready = () => {
          if (settled) return;
          settled = true;
          resolve(session);
        };
        if (!credentials) return ready();
        conn.login(credentials, (loginErr) => {
          if (!loginErr) return ready();
          drop();
          conn.close();
          if (!settled) {
            settled = true;
            reject(loginErr);
          }
        });
      });
    });
  }

  /** A session: an idle one, a new one while under maxConnections, or the next one released (until `deadline`). */
  private async acquire(deadline: number, track: (s: Session) => void): Promise<Session> {
    for (;;) {
      if (this.closed) throw Object.assign(new Error('SMTP pool is closed'), { code: 'ECONNECTION' });
      const s = this.idle.pop();
      if (s) {
        if (!s.dead) return s;
        continue;
      }
      if (this.open < this.options.maxConnections) return this.connect(track);
      const handed = await this.waitFor(deadline);
      if (handed && !handed.dead) return handed;
    }
  }

  /** The next session released (null: a slot opened), or a deadline error once `deadline` passes first. */
  private waitFor(deadline: number): Promise<Session | null> {
    return new Promise<Session | null>((resolve, reject) => {
      const waiter = (s: Session | null) => {
        clearTimeout(timer);
        resolve(s);
      };
      this.waiting.push(waiter);
      const timer =
        deadline === Infinity
          ? undefined
          : setTimeout(() => {
              const i = this.waiting.indexOf(waiter);
              if (i >= 0) this.waiting.splice(i, 1);
              reject(pastDeadline('while waiting for a free session'));
            }, timeLeft(deadline));
    });
  }

  /** A finished session goes to the next waiter, or back to the idle list. */
  private release(s: Session): void {
    if (s.dead) return;
    if (s.sent >= this.options.maxMessages || this.closed) {
      this.retire(s);
      return;
    }
    const next = this.waiting.shift();
    if (next) next(s);
    else this.idle.push(s);
  }

  private retire(s: Session): void {
    if (s.dead) return;
    s.conn.quit();
    // quit() ends the socket; 'end' drops it from the count.
  }

  /** Lets a waiter try again (a slot opened up). */
  private wake(): void {
    const next = this.waiting.shift();
    if (next) next(null);
  }

  /**
   * Sends one message. `deadline` (ms since the epoch) bounds the whole send, waiting for a session included: a
   * server that answers one byte at a time (every reply within socketTimeout) would otherwise hold it for ever. When
   * it passes, the session is closed and the send fails with ETIMEDOUT (no reply code: a deferral).
   */
  async send(envelope: { from: string; to: string[] }, raw: Buffer, deadline = Infinity): Promise<SentInfo> {
    try {
      return await this.sendWithin(envelope, raw, deadline);
    } catch (err) {
      // A reused session the server had just closed (its idle timeout racing our send) fails before a byte of the
      // message went out: that one send may go again on a fresh session, which cannot deliver it twice. Whatever the
      // fresh session answers (a 421 greeting included) is the destination's real answer.
      if ((err as { retryable?: boolean }).retryable) return this.sendWithin(envelope, raw, deadline);
      throw err;
    }
  }

  private async sendWithin(envelope: { from: string; to: string[] }, raw: Buffer, deadline: number): Promise<SentInfo> {
    if (Date.now() >= deadline) throw pastDeadline('before a session was taken');
    const state: SendState = { session: null, late: false, body: null };
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      if (deadline === Infinity) return;
      timer = setTimeout(() => {
        // The message is on the wire: cutting now could leave it delivered with no reply read, and the retry would
        // send it twice. Its reply is bounded by socketTimeout instead.
        if (state.body?.written) return;
        state.late = true;
        state.session?.conn.close(); // its callbacks then fail the send, which nobody waits for any more
        reject(pastDeadline(state.session ? 'mid-session' : 'while waiting for a free session'));
      }, timeLeft(deadline));
    });
    try {
      return await Promise.race([this.sendOnce(envelope, raw, deadline, state), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async sendOnce(envelope: { from: string; to: string[] }, raw: Buffer, deadline: number, state: SendState): Promise<SentInfo> {
    const s = await this.acquire(deadline, (c) => (state.session = c));
    if (state.late) {
      this.release(s);
      throw pastDeadline('mid-session');
    }
    state.session = s;
    const reused = s.sent > 0;
    const body = directBody(s.conn, raw);
    state.body = body;
    // nodemailer keeps the envelope it is given and writes its state on it (mailError, rcptQueue): a retry handed the
    // same object would fail again with the first attempt's error.
    const own = { from: envelope.from, to: [...envelope.to] };
    return new Promise<SentInfo>((resolve, reject) => {
      s.conn.send(own, body as unknown as Readable, (err, info) => {
        s.sent += 1;
        if (!err) {
          if (s.tls === undefined) s.tls = tlsOf(s.conn);
          const tls = s.tls;
          this.release(s);
          return resolve({ response: String(info?.response ?? '250 OK'), tls });
        }
        if (sessionSurvives(err) && !s.dead) {
          s.conn.reset((resetErr) => (resetErr ? s.conn.close() : this.release(s)));
        } else {
          s.conn.close();
        }
        if (reused && sessionWasDead(err) && !body.written) Object.assign(err, { retryable: true });
        reject(err);
      });
    });
  }

  /** No send under way or waiting for a session: at most idle sessions, which close() quits. */
  get unused(): boolean {
    return this.open === this.idle.length && this.waiting.length === 0;
  }

  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.conn.quit();
    for (const w of this.waiting.splice(0)) w(null);
  }
}
