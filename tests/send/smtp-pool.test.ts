import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import type { SMTPServerOptions } from 'smtp-server';
import { SmtpPool, SmtpPoolOptions } from '../../src/delivery/smtp-pool';
import { startLagLink, LagLink } from '../helpers/lag-link';
import { waitFor } from '../helpers/sink';
import { startTarpit } from '../helpers/tarpit';

/**
 * SmtpPool against real smtp-server instances on loopback: every connection, command and byte goes over a
 * socket. The server counts its connections (onConnect/onClose) and records what it received.
 */

interface Received {
  from: string;
  to: string[];
  raw: Buffer;
  sessionId: string;
}

interface TestServer {
  port: number;
  server: SMTPServer;
  received: Received[];
  /** Connections accepted so far, open now, and most open at once (seen by the server). */
  connects: number;
  closes: number;
  active: number;
  maxActive: number;
  /** Raw client sockets as accepted, to drop a session from the server side or watch what the client says. */
  sockets: net.Socket[];
  /** What each client socket sent, as text (commands and message data). */
  said: string[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
const pools: SmtpPool[] = [];
const links: LagLink[] = [];

async function startServer(extra: Partial<SMTPServerOptions> = {}, port = 0): Promise<TestServer> {
  const t: TestServer = {
    port: 0,
    server: undefined as unknown as SMTPServer,
    received: [],
    connects: 0,
    closes: 0,
    active: 0,
    maxActive: 0,
    sockets: [],
    said: [],
    close: async () => undefined,
  };
  const userOnData = extra.onData;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 50,
    ...extra,
    onConnect(session, cb) {
      t.connects += 1;
      t.active += 1;
      t.maxActive = Math.max(t.maxActive, t.active);
      if (extra.onConnect) return extra.onConnect(session, cb);
      cb();
    },
    onClose(session, cb) {
      t.closes += 1;
      t.active -= 1;
      extra.onClose?.(session, cb);
    },
    onData(stream, session, cb) {
      if (userOnData) return userOnData(stream, session, cb);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        t.received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
          sessionId: session.id,
        });
        cb(null);
      });
    },
  });
  server.on('error', () => undefined);
  server.server.on('connection', (sock: net.Socket) => {
    const i = t.sockets.push(sock) - 1;
    t.said[i] = '';
    sock.on('data', (c: Buffer) => {
      t.said[i] += c.toString('latin1');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  t.server = server;
  t.port = (server.server.address() as AddressInfo).port;
  t.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  servers.push(t);
  return t;
}

/**
 * For the "promptly" checks: the pool's own timeouts far above the limit the check allows, so that the only way past
 * the limit is to wait for one of them, and a loaded machine (CI beside other jobs) has seconds of room instead of a
 * few hundred ms.
 */
const PROMPT_MS = 5000;
const SLOW_TIMEOUTS = { connectionTimeout: 20_000, greetingTimeout: 20_000, socketTimeout: 20_000 };

function newPool(port: number, opts: Partial<SmtpPoolOptions> = {}): SmtpPool {
  const pool = new SmtpPool({
    host: '127.0.0.1',
    port,
    ignoreTLS: true,
    name: 'pool.test',
    connectionTimeout: 3000,
    greetingTimeout: 3000,
    socketTimeout: 5000,
    maxConnections: 1,
    maxMessages: 100,
    ...opts,
  });
  pools.push(pool);
  return pool;
}

/** A message ending in CRLF, with a line that starts with a dot (dot-stuffing must round-trip). */
function message(n: number, extraLines = 0): Buffer {
  const lines = [
    `From: sender@pool.test`,
    `To: r${n}@dest.test`,
    `Subject: message ${n}`,
    `X-Seq: ${n}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `Body of message ${n}: naïve café ✓`,
    '.a line that starts with a dot',
    '..two dots',
    '.',
    ...Array.from({ length: extraLines }, (_, i) => `line ${i} of ${n} ${'x'.repeat(60)}`),
    'end',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

function envelope(n: number | string) {
  return { from: 'sender@pool.test', to: [typeof n === 'number' ? `r${n}@dest.test` : n] };
}

/** A free TCP port on loopback with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function smtpErr(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

interface SmtpErrorShape {
  code?: string;
  responseCode?: number;
  response?: string;
  message: string;
}

async function rejectionOf(p: Promise<unknown>): Promise<SmtpErrorShape> {
  try {
    await p;
  } catch (err) {
    return err as SmtpErrorShape;
  }
  throw new Error('expected the send to reject, it resolved');
}

afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  await Promise.all(links.splice(0).map((l) => l.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('SmtpPool against real SMTP servers on loopback', () => {
  it('60 concurrent sends with maxConnections 3: every message arrives byte-exact, at most 3 connections at once, sessions reused', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port, { maxConnections: 3 });
    const sent = Array.from({ length: 60 }, (_, i) => message(i, i % 7 === 0 ? 2000 : i)); // some of ~130 KB
    const results = await Promise.all(sent.map((raw, i) => pool.send(envelope(i), raw)));

    expect(results.every((r) => /^250[ -]/.test(r.response))).toBe(true);
    expect(srv.received).toHaveLength(60);
    for (let i = 0; i < 60; i++) {
      const got = srv.received.filter((r) => r.to[0] === `r${i}@dest.test`);
      expect(got).toHaveLength(1);
      expect(got[0].from).toBe('sender@pool.test');
      expect(got[0].raw.equals(sent[i])).toBe(true);
    }
    expect(srv.maxActive).toBeLessThanOrEqual(3);
    expect(srv.connects).toBeLessThanOrEqual(3);
    expect(srv.connects).toBeGreaterThanOrEqual(1);
    // the work was spread over the sessions actually opened, each carrying many messages
    const perSession = new Map<string, number>();
    for (const r of srv.received) perSession.set(r.sessionId, (perSession.get(r.sessionId) ?? 0) + 1);
    expect(perSession.size).toBe(srv.connects);
    expect(Math.max(...perSession.values())).toBeGreaterThan(1);
  });

  it('writes a message and its terminating dot in one write: two socket writes per message with the envelope', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port);
    await pool.send(envelope(0), message(0)); // connects, greets
    // Every write of a net.Socket goes through _write or _writev, one syscall each; ours are those to the server's port.
    const write = jest.spyOn(net.Socket.prototype as unknown as { _write: () => void }, '_write');
    const writev = jest.spyOn(net.Socket.prototype as unknown as { _writev: () => void }, '_writev');
    try {
      for (let i = 1; i <= 5; i++) await pool.send(envelope(i), message(i));
      const toServer = (m: jest.SpyInstance) => m.mock.contexts.filter((sock) => (sock as net.Socket).remotePort === srv.port).length;
      // MAIL FROM, RCPT TO and DATA pipelined in one; then the dot-stuffed message and `CRLF.CRLF` in one (not two).
      expect(toServer(write) + toServer(writev)).toBe(5 * 2);
    } finally {
      write.mockRestore();
      writev.mockRestore();
    }
    expect(srv.received.map((r) => r.raw.toString('latin1'))).toEqual([0, 1, 2, 3, 4, 5].map((i) => message(i).toString('latin1')));
    // Dot-stuffed as nodemailer's DataStream does it, and ended by the dot line.
    expect(srv.said[0]).toContain('\r\n..a line that starts with a dot\r\n...two dots\r\n..\r\nend\r\n.\r\n');
  });

  it('puts on the wire the bytes DataStream writes, dots at the 16 KiB and 64 KiB chunk borders and bare line ends included, and the server gets each message back', async () => {
    const srv = await startServer({ size: 10 * 1024 * 1024 });
    const pool = newPool(srv.port);
    // Three messages whose lines start with a dot one byte before, at and one byte after the stream and socket chunk
    // sizes, with a bare LF and a bare CR (each repaired to CRLF), a dot after the bare CR, and a dot as the last byte.
    const borders = [16384, 65536, 131072];
    const messages = [-1, 0, 1].map((shift) => {
      let text = 'Subject: borders\r\n\r\n';
      for (const border of borders) {
        text += 'x'.repeat(border + shift - text.length - 2) + '\r\n';
        text += `.dot at ${border + shift}\r\n`;
      }
      return Buffer.from(`${text}bare LF\nbare CR\r.dot after it\r\n..\r\n.`, 'latin1');
    });
    const viaDataStream = (raw: Buffer) =>
      new Promise<string>((resolve) => {
        const ds = new DataStream();
        const out: Buffer[] = [];
        ds.on('data', (c: Buffer) => out.push(c));
        ds.on('end', () => resolve(Buffer.concat(out).toString('latin1')));
        ds.end(raw);
      });

    for (const [i, raw] of messages.entries()) await pool.send(envelope(i), raw);

    // What the client wrote after each DATA, up to the next command (the server's replies are not in `said`).
    const sections = srv.said[0]
      .split('\r\nDATA\r\n')
      .slice(1)
      .map((s) => s.replace(/MAIL FROM:[\s\S]*$|QUIT\r\n$/, ''));
    expect(sections).toHaveLength(3);
    for (const [i, raw] of messages.entries()) {
      for (const border of borders) expect(raw[border + i - 1]).toBe(0x2e);
      expect(sections[i]).toBe(await viaDataStream(raw));
      const repaired = raw.toString('latin1').replace('bare LF\n', 'bare LF\r\n').replace('bare CR\r', 'bare CR\r\n');
      expect(srv.received[i].raw.toString('latin1')).toBe(`${repaired}\r\n`);
    }
  });

  it('sends beyond maxConnections wait for a free session instead of opening more', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port, { maxConnections: 1 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => pool.send(envelope(i), message(i))));
    expect(srv.received).toHaveLength(10);
    expect(srv.connects).toBe(1);
    expect(srv.maxActive).toBe(1);
  });

  it('a recipient refused at RCPT (550) fails that send only; the next send reuses the same connection after RSET', async () => {
    const srv = await startServer({
      onRcptTo(address, _session, cb) {
        cb(address.address.startsWith('bad') ? smtpErr(550, 'No such user here') : null);
      },
    });
    const pool = newPool(srv.port, { maxConnections: 1 });

    const err = await rejectionOf(pool.send(envelope('bad@dest.test'), message(1)));
    expect(err.code).toBe('EENVELOPE');
    expect(err.responseCode).toBe(550);
    expect(err.response).toMatch(/^550 .*No such user here/);

    const ok = await pool.send(envelope('good@dest.test'), message(2));
    expect(ok.response).toMatch(/^250/);
    // and once more, straight after another refusal
    await expect(pool.send(envelope('bad2@dest.test'), message(3))).rejects.toMatchObject({ code: 'EENVELOPE', responseCode: 550 });
    await pool.send(envelope('good2@dest.test'), message(4));

    expect(srv.received.map((r) => r.to)).toEqual([['good@dest.test'], ['good2@dest.test']]);
    expect(srv.received[0].raw.equals(message(2))).toBe(true);
    expect(srv.connects).toBe(1);
    expect(srv.said[0]).toMatch(/\r\nRSET\r\n/); // the session was reset, not closed
  });

  it('a message refused after DATA (554) fails that send; the session survives for the next one', async () => {
    let n = 0;
    const srv = await startServer({
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => {
          n += 1;
          cb(n === 1 ? smtpErr(554, 'Message rejected as spam') : null);
        });
      },
    });
    const pool = newPool(srv.port, { maxConnections: 1 });
    await expect(pool.send(envelope(1), message(1))).rejects.toMatchObject({ code: 'EMESSAGE', responseCode: 554 });
    await expect(pool.send(envelope(2), message(2))).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
    expect(n).toBe(2);
    expect(srv.connects).toBe(1);
  });

  it('a 421 at RCPT closes the session: the next send opens a new connection', async () => {
    let first = true;
    const srv = await startServer({
      onRcptTo(_address, _session, cb) {
        if (first) {
          first = false;
          return cb(smtpErr(421, 'Try again later, closing'));
        }
        cb(null);
      },
    });
    const pool = newPool(srv.port, { maxConnections: 1 });
    await expect(pool.send(envelope(1), message(1))).rejects.toMatchObject({ responseCode: 421 });
    await pool.send(envelope(2), message(2));
    expect(srv.connects).toBe(2);
    expect(srv.received.map((r) => r.to[0])).toEqual(['r2@dest.test']);
  });

  it('maxMessages 2 with 5 sequential sends: 3 connections, each used-up session is QUIT', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port, { maxConnections: 1, maxMessages: 2 });
    for (let i = 0; i < 5; i++) await pool.send(envelope(i), message(i));
    expect(srv.received).toHaveLength(5);
    expect(srv.connects).toBe(3);
    const perSession = new Map<string, number>();
    for (const r of srv.received) perSession.set(r.sessionId, (perSession.get(r.sessionId) ?? 0) + 1);
    expect([...perSession.values()]).toEqual([2, 2, 1]);
    // the two full sessions were closed politely; the third is still open and idle
    await waitFor(() => srv.closes === 2, 15_000, 'two sessions retired');
    expect(srv.said[0]).toMatch(/\r\nQUIT\r\n$/);
    expect(srv.said[1]).toMatch(/\r\nQUIT\r\n$/);
    expect(srv.said[2]).not.toMatch(/QUIT/);
    expect(srv.active).toBe(1);
  });

  it('maxMessages also holds under concurrency: no session carries more than maxMessages', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port, { maxConnections: 2, maxMessages: 3 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => pool.send(envelope(i), message(i))));
    expect(srv.received).toHaveLength(20);
    const perSession = new Map<string, number>();
    for (const r of srv.received) perSession.set(r.sessionId, (perSession.get(r.sessionId) ?? 0) + 1);
    expect(Math.max(...perSession.values())).toBeLessThanOrEqual(3);
    expect(srv.connects).toBeGreaterThanOrEqual(7); // ceil(20 / 3)
    expect(srv.maxActive).toBeLessThanOrEqual(3); // 2 plus, at most, one retiring session still closing
  });

  it('a session the server times out while idle (421) leaves the pool: the next send opens a new connection', async () => {
    const srv = await startServer({ socketTimeout: 300 });
    const pool = newPool(srv.port, { maxConnections: 1, ...SLOW_TIMEOUTS });
    await pool.send(envelope(1), message(1));
    await waitFor(() => srv.closes === 1, 15_000, 'the server to time the idle session out');
    const started = Date.now();
    await pool.send(envelope(2), message(2));
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    expect(srv.connects).toBe(2);
    expect(srv.received.map((r) => r.to[0])).toEqual(['r1@dest.test', 'r2@dest.test']);
    expect(new Set(srv.received.map((r) => r.sessionId)).size).toBe(2);
  });

  it('a session the server drops silently while idle (FIN, no reply) leaves the pool: the next send opens a new connection', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port, { maxConnections: 1 });
    await pool.send(envelope(1), message(1));
    const sock = srv.sockets[0];
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.end(); // the server side just goes away
    await closed; // both halves closed: the client has seen the FIN and answered it
    await pool.send(envelope(2), message(2));
    expect(srv.connects).toBe(2);
    expect(srv.received.map((r) => r.to[0])).toEqual(['r1@dest.test', 'r2@dest.test']);
  });

  it('a reused session the server closes just as a send starts: that send goes again on a new session, once', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port, { maxConnections: 1 });
    await pool.send(envelope(1), message(1));
    // The FIN is on its way but the client has not seen it: the send picks the idle session and loses it.
    srv.sockets[0].end();
    await pool.send(envelope(2), message(2));
    expect(srv.connects).toBe(2);
    expect(srv.received.map((r) => r.to[0])).toEqual(['r1@dest.test', 'r2@dest.test']);
  });

  it('a reused session whose idle-timeout 421 crosses our MAIL FROM: that send goes again on a new session, once, and succeeds', async () => {
    const srv = await startServer({ socketTimeout: 300 });
    const link = await startLagLink({ host: '127.0.0.1', port: srv.port });
    links.push(link);
    const pool = newPool(link.port, { maxConnections: 1 });
    await pool.send(envelope(1), message(1));
    // The server times the idle session out; its "421 … Timeout - closing connection" is still on the wire.
    await link.hold();
    await waitFor(() => srv.closes === 1, 15_000, 'the server to close the idle session');
    const ok = await pool.send(envelope(2), message(2));
    expect(ok.response).toMatch(/^250/);
    expect(link.crossed).toBe(1); // the 421 did meet MAIL FROM on the wire
    expect(link.connects).toBe(2);
    expect(srv.received.map((r) => r.to[0])).toEqual(['r1@dest.test', 'r2@dest.test']);
  });

  it('a 421 in reply to MAIL FROM on a fresh session is the answer: no second try', async () => {
    const srv = await startServer({
      onMailFrom(_address, _session, cb) {
        cb(smtpErr(421, 'Too many messages, slow down'));
      },
    });
    const pool = newPool(srv.port, { maxConnections: 1 });
    await expect(pool.send(envelope(1), message(1))).rejects.toMatchObject({ responseCode: 421, command: 'MAIL FROM' });
    expect(srv.connects).toBe(1);
  });

  describe('AUTH', () => {
    const authServer = (methods: ('PLAIN' | 'LOGIN')[]) =>
      startServer({
        authOptional: false,
        authMethods: methods,
        allowInsecureAuth: true,
        onAuth(auth, _session, cb) {
          if (auth.username === 'relayuser' && auth.password === 's3cret pass') return cb(null, { user: auth.username });
          cb(smtpErr(535, 'Authentication credentials invalid'));
        },
      });

    it.each([['PLAIN'], ['LOGIN']] as const)('%s: the right credentials log in and the message goes through', async (method) => {
      const srv = await authServer([method]);
      const pool = newPool(srv.port, { maxConnections: 1, credentials: { user: 'relayuser', pass: 's3cret pass' } });
      await pool.send(envelope(1), message(1));
      await pool.send(envelope(2), message(2));
      expect(srv.received).toHaveLength(2);
      expect(srv.connects).toBe(1); // logged in once, reused
      expect(srv.said[0]).toContain(`AUTH ${method}`);
    });

    it('wrong credentials reject with 535 promptly, again on the next send, and never deliver', async () => {
      const srv = await authServer(['PLAIN', 'LOGIN']);
      const pool = newPool(srv.port, { maxConnections: 1, credentials: { user: 'relayuser', pass: 'wrong' }, ...SLOW_TIMEOUTS });
      const started = Date.now();
      const err = await rejectionOf(pool.send(envelope(1), message(1)));
      expect(err.responseCode).toBe(535);
      expect(err.code).toBe('EAUTH');
      // the failed session gave its slot back: with maxConnections 1 a second send would hang otherwise
      await expect(pool.send(envelope(2), message(2))).rejects.toMatchObject({ responseCode: 535 });
      expect(Date.now() - started).toBeLessThan(PROMPT_MS);
      expect(srv.received).toHaveLength(0);
      expect(srv.connects).toBe(2);
      await waitFor(() => srv.closes === 2, 15_000, 'the failed sessions to be closed');
    });

    it('no credentials against a server that requires AUTH: the send is refused, not hung', async () => {
      const srv = await authServer(['PLAIN']);
      const pool = newPool(srv.port, { maxConnections: 1 });
      const err = await rejectionOf(pool.send(envelope(1), message(1)));
      expect(err.responseCode).toBe(530);
      expect(srv.received).toHaveLength(0);
    });
  });

  it('connection refused rejects promptly with a connection error, and the pool works once a server listens there', async () => {
    const port = await closedPort();
    const pool = newPool(port, { maxConnections: 1, ...SLOW_TIMEOUTS });
    const started = Date.now();
    const err = await rejectionOf(pool.send(envelope(1), message(1)));
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    expect(['ECONNECTION', 'ESOCKET']).toContain(err.code);
    expect(`${err.message} ${(err as { originalCode?: string }).originalCode ?? ''}`).toMatch(/ECONNREFUSED/);
    // a second attempt fails the same way (the refused session did not keep the only slot)
    await expect(pool.send(envelope(2), message(2))).rejects.toMatchObject({ code: err.code });

    const srv = await startServer({}, port);
    await pool.send(envelope(3), message(3)); // same pool instance
    const fresh = newPool(port, { maxConnections: 1 });
    await fresh.send(envelope(4), message(4));
    expect(srv.received.map((r) => r.to[0])).toEqual(['r3@dest.test', 'r4@dest.test']);
  });

  it('close(): idle sessions are QUIT, and sends after close reject without connecting', async () => {
    const srv = await startServer();
    const pool = newPool(srv.port, { maxConnections: 2, ...SLOW_TIMEOUTS });
    await Promise.all([0, 1, 2, 3].map((i) => pool.send(envelope(i), message(i))));
    expect(srv.connects).toBe(2);
    expect(srv.active).toBe(2);

    pool.close();
    await waitFor(() => srv.closes === 2, 15_000, 'the idle sessions to close');
    expect(srv.said.every((s) => /\r\nQUIT\r\n$/.test(s))).toBe(true);

    const started = Date.now();
    const err = await rejectionOf(pool.send(envelope(9), message(9)));
    expect(err.message).toMatch(/closed/);
    expect(err.code).toBe('ECONNECTION');
    expect(Date.now() - started).toBeLessThan(PROMPT_MS);
    expect(srv.connects).toBe(2);
    expect(srv.received).toHaveLength(4);
  });

  it('close() while a send is in progress: the waiting send rejects, the running one completes and its session is QUIT', async () => {
    let releaseData!: () => void;
    const dataHeld = new Promise<void>((r) => (releaseData = r));
    let dataStarted!: () => void;
    const inData = new Promise<void>((r) => (dataStarted = r));
    const srv = await startServer({
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => {
          dataStarted();
          void dataHeld.then(() => cb(null));
        });
      },
    });
    const pool = newPool(srv.port, { maxConnections: 1 });
    const running = pool.send(envelope(1), message(1));
    const waiting = pool.send(envelope(2), message(2)); // no free session: waits
    await inData;

    pool.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ECONNECTION', message: expect.stringMatching(/closed/) });
    releaseData();
    await expect(running).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
    await waitFor(() => srv.closes === 1, 15_000, 'the session to be retired');
    expect(srv.said[0]).toMatch(/\r\nQUIT\r\n$/);
    expect(srv.connects).toBe(1);
  });

  it('a deadline that passes once the message is on the wire does not cut the send: its reply is read, so a retry cannot send it twice', async () => {
    let ended!: () => void;
    const dataEnded = new Promise<void>((r) => (ended = r));
    // Far enough off for the session to reach DATA on a loaded host (300 ms ran out before DATA at load 11).
    const deadline = Date.now() + 1500;
    const srv = await startServer({
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => {
          ended();
          // The server takes its time to accept what it has received: its reply comes after the deadline has passed.
          setTimeout(() => cb(null), Math.max(0, deadline - Date.now()) + 300);
        });
      },
    });
    const pool = newPool(srv.port);
    const sent = pool.send(envelope(1), message(1), deadline);
    await Promise.race([dataEnded, sent]); // a send cut before DATA fails here, not at jest's timeout
    await dataEnded;
    await expect(sent).resolves.toMatchObject({ response: expect.stringMatching(/^250/) });
  });

  it('a deadline bounds a send that waits for a session and one whose server trickles its reply: both fail with ETIMEDOUT, the session is closed', async () => {
    const pit = await startTarpit(() => true, 50);
    try {
      const pool = newPool(pit.port, { maxConnections: 1 });
      const started = Date.now();
      const running = rejectionOf(pool.send(envelope(1), message(1), started + 600));
      const waiting = rejectionOf(pool.send(envelope(2), message(2), started + 300));
      expect(await waiting).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringMatching(/waiting for a free session/) });
      expect(await running).toMatchObject({ code: 'ETIMEDOUT', message: expect.stringMatching(/mid-session/) });
      expect(Date.now() - started).toBeLessThan(2000);
      await waitFor(() => pit.open === 0, 2000, 'the trickling session closed');
    } finally {
      await pit.close();
    }
  });
});
