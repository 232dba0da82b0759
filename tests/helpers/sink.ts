import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  /** When the sink answered 250 (ms since the epoch). */
  at: number;
  /** Whether the session was encrypted (STARTTLS) when the message came. */
  secure: boolean;
  /** The client's address, and the name it gave in EHLO (or HELO). */
  remoteAddress: string;
  ehlo: string;
}

export interface Sink {
  port: number;
  received: Received[];
  /** Decide the reply for one RCPT TO (`from`: the session's MAIL FROM): undefined accepts; an Error with responseCode rejects. */
  onRcpt?: (address: string, from: string) => Error | undefined;
  /** Holds the reply to one RCPT TO until the promise it answers settles (a stalled server); undefined: no wait. */
  rcptWait?: (address: string) => Promise<void> | undefined;
  /** Runs once a message's data is in, before the reply (a wait, then an Error to refuse it unstored); unset: store it. */
  beforeReply?: (to: string[]) => Promise<Error | undefined>;
  /** The text of the 250 reply to DATA (smtp-server's own when unset). */
  dataReply?: () => string | undefined;
  /** Sessions open now, the most open at once, and the most messages in DATA at once, as the server saw them. */
  open: number;
  maxOpen: number;
  maxInData: number;
  close(): Promise<void>;
}

export function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/**
 * A greylisting server's RCPT rule for the addresses `applies` picks: the first RCPT of each (MAIL FROM, RCPT TO) pair
 * is refused with a 450, every later one accepted. Each message has its own VERP return path, so each is refused
 * once. `replies` lists the answers to those addresses in the order given.
 */
export function greylisting(applies: (address: string) => boolean): {
  onRcpt: (address: string, from: string) => Error | undefined;
  replies: ('refused' | 'accepted')[];
} {
  const seen = new Set<string>();
  const replies: ('refused' | 'accepted')[] = [];
  const onRcpt = (address: string, from: string) => {
    if (!applies(address)) return undefined;
    const pair = `${from.toLowerCase()} ${address.toLowerCase()}`;
    if (seen.has(pair)) {
      replies.push('accepted');
      return undefined;
    }
    seen.add(pair);
    replies.push('refused');
    return smtpError(450, '4.7.1 Greylisted, try again later');
  };
  return { onRcpt, replies };
}

/**
 * `to`'s first RCPT waits until `release()`, then is refused once (greylisting, 450); later ones are taken. The
 * retry is then the only send that can reach `to`: for tests of what a retry does about a change made while its
 * first attempt was in flight. `restore()` puts the sink's hooks back (and releases a wait still held).
 */
export function holdFirstRcpt(sink: Sink, to: string): { held: () => boolean; release: () => void; replies: ('refused' | 'accepted')[]; restore: () => void } {
  const grey = greylisting((a) => a === to);
  const hold = holdRcpt(sink, to);
  sink.onRcpt = grey.onRcpt;
  return {
    ...hold,
    replies: grey.replies,
    restore() {
      hold.restore();
      sink.onRcpt = undefined;
    },
  };
}

/**
 * Every RCPT of `to` waits until `release()` (a delivery held mid-send, its lease on). `restore()` takes the wait away
 * and releases one still held.
 */
export function holdRcpt(sink: Sink, to: string): { held: () => boolean; release: () => void; restore: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  sink.rcptWait = (a) => {
    if (a !== to) return undefined;
    held = true;
    return released;
  };
  return {
    held: () => held,
    release,
    restore() {
      sink.rcptWait = undefined;
      release();
    },
  };
}

/**
 * A real SMTP server on loopback that stores what it is given: on a free port, or on a chosen address and
 * port (a second MX host, a relay brought back where it went away), optionally with a short idle timeout. It
 * closes at once even while a pooled client is still connected.
 */
export async function startSink(
  at: { host?: string; port?: number } = {},
  opts: {
    socketTimeout?: number;
    /** Each message holds its session this long before the 250 (a slow smarthost). */
    holdMs?: number;
    /** Offer STARTTLS, with smtp-server's own self-signed test certificate, or with `tls`'s. */
    starttls?: boolean;
    tls?: { key: string; cert: string };
  } = {},
): Promise<Sink> {
  const sink: Sink = { port: 0, received: [], open: 0, maxOpen: 0, maxInData: 0, close: async () => undefined };
  let inData = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: opts.starttls || opts.tls ? [] : ['STARTTLS'],
    ...(opts.tls ?? {}),
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 50,
    size: 50 * 1024 * 1024,
    // Idle sessions are closed with "421 … Timeout - closing connection" after this long (smtp-server's default: 60 s).
    ...(opts.socketTimeout ? { socketTimeout: opts.socketTimeout } : {}),
    onConnect(_session, cb) {
      sink.open += 1;
      sink.maxOpen = Math.max(sink.maxOpen, sink.open);
      cb();
    },
    onClose() {
      sink.open -= 1;
    },
    onRcptTo(address, session, cb) {
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const reply = () => cb(sink.onRcpt?.(address.address, from) ?? null);
      const wait = sink.rcptWait?.(address.address);
      if (wait) void wait.then(reply);
      else reply();
    },
    onData(stream, session, cb) {
      inData += 1;
      sink.maxInData = Math.max(sink.maxInData, inData);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const store = async () => {
          const refused = await sink.beforeReply?.(session.envelope.rcptTo.map((r) => r.address));
          inData -= 1;
          if (refused) return cb(refused);
          sink.received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks),
            at: Date.now(),
            secure: !!session.secure,
            remoteAddress: session.remoteAddress,
            ehlo: session.hostNameAppearsAs,
          });
          cb(null, sink.dataReply?.());
        };
        // A beforeReply that throws (a test's wait timed out) still ends the session, with a 451: left unanswered, the
        // client waited for its socket timeout and held up the worker's stop and the file's afterAll. Its error stays
        // unhandled, so jest reports it.
        const storeOrRefuse = () =>
          store().catch((err: unknown) => {
            inData -= 1;
            cb(smtpError(451, '4.3.0 the test sink failed'));
            throw err;
          });
        if (opts.holdMs) setTimeout(() => void storeOrRefuse(), opts.holdMs);
        else void storeOrRefuse();
      });
    },
  });
  server.on('error', () => undefined); // a client that dies mid-session (a killed worker) is not a test failure
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(at.port ?? 0, at.host ?? '127.0.0.1', () => resolve());
  });
  sink.port = (server.server.address() as AddressInfo).port;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}

/**
 * Polls `cond` until it holds, failing after `ms`. `everyMs` is the pause between checks: a check that is a costly
 * query (a count over thousands of rows) is better made every few hundred ms, so the polling does not take the CPU
 * the work it waits for needs.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms = 15000, what = 'condition', everyMs = 25): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
