/**
 * A request refused before its body is read (413 too large, 401 before the body is judged) ends its connection: the
 * reply says `Connection: close` and the server closes the socket once the reply is out. Kept alive, Node would read
 * and drop the rest of the upload to reach the next request, and a client could stream gigabytes at it after its
 * refusal. A request whose body was read keeps its connection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';
import { rawHttp } from '../helpers/raw-http';
import net from 'node:net';

const LIMIT = 4096;
/** What the client declares: far more than the test ever sends. */
const DECLARED = 1024 * 1024 * 1024;
/** Past this many bytes written after the reply, the server is taken to be reading the upload. */
const READ_ON = 128 * 1024 * 1024;

let h: Harness;
let server: http.Server;
let port: number;
let key: string;

beforeAll(async () => {
  h = await startHarness({ MAX_REQUEST_BYTES: String(LIMIT) });
  key = await accountKey(h, (await senderSetup(h)).sessionId);
  server = http.createServer(h.app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await h.services.queues.close();
  await h.close();
});

interface Upload {
  /** The reply as received: head and body. */
  reply: string;
  /** Milliseconds from the reply's arrival to the server ending the connection (FIN) and closing it; null if not within 5 s. */
  endedAfterMs: number | null;
  closedAfterMs: number | null;
  /** Bytes of the body the client managed to write after the reply arrived. */
  sent: number;
}

/**
 * Sends `head` (a request head declaring a huge body) and a first chunk, then keeps writing the body as fast as the
 * server takes it, until the server closes the connection or 5 s after the reply. The client is the worst kind: it
 * reads the reply but writes on past the server's FIN (a half-open socket), so only the server's own close stops it.
 */
async function upload(head: string, chunked: boolean): Promise<Upload> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let reply = '';
  let repliedAt = 0;
  let endedAt = 0;
  let closedAt = 0;
  let writtenAtReply = 0;
  socket.on('data', (d: Buffer) => {
    reply += d.toString('latin1');
    if (repliedAt || !reply.includes('\r\n\r\n')) return;
    repliedAt = Date.now();
    writtenAtReply = socket.bytesWritten;
  });
  socket.on('end', () => (endedAt = Date.now()));
  socket.on('error', () => undefined); // writing into the closed connection
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve(void (closedAt = Date.now()))));
  const piece = Buffer.alloc(64 * 1024, 'x');
  const frame = (b: Buffer) => (chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]) : b);
  socket.write(head);
  const deadline = Date.now() + 10_000;
  const sentSinceReply = () => (repliedAt ? socket.bytesWritten - writtenAtReply : 0);
  while (!closedAt && Date.now() < deadline && (!repliedAt || Date.now() - repliedAt < 5000) && sentSinceReply() < READ_ON) {
    if (socket.writable && !socket.write(frame(piece))) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
    else await new Promise((r) => setImmediate(r));
  }
  const sent = sentSinceReply();
  socket.destroy();
  const after = (t: number) => (t && repliedAt ? t - repliedAt : null);
  return { reply, endedAfterMs: after(endedAt), closedAfterMs: after(closedAt), sent };
}

const headOf = (path: string, headers: Record<string, string>, chunked = false) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
  Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('') +
  (chunked ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${DECLARED}\r\n`) +
  '\r\n';

/** The reply's status and its Connection header, from the raw text. */
function replyOf(raw: string): { status: number; connection: string | undefined } {
  const head = raw.split('\r\n\r\n')[0];
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), connection: /\r\nconnection: *([^\r]*)/i.exec(head)?.[1]?.toLowerCase() };
}

function expectClosedEarly(u: Upload, status: number, text: RegExp) {
  // The whole reply, in the door's envelope: a socket closed at once would answer the body still arriving with a
  // reset, and the client would lose the reply to it.
  expect(replyOf(u.reply)).toEqual({ status, connection: 'close' });
  expect(u.reply.split('\r\n\r\n')[1]).toMatch(text);
  // The reply's end at once (a client that stops writing there is done), the connection soon after.
  expect(u.endedAfterMs).not.toBeNull();
  expect(u.endedAfterMs!).toBeLessThan(500);
  expect(u.closedAfterMs).not.toBeNull();
  expect(u.closedAfterMs!).toBeLessThan(2000);
  // What the kernel's buffers held and the server's bound (src/http/unread-body.ts): a few MB. A server reading on
  // would have taken READ_ON (128 MB) within the second.
  expect(u.sent).toBeLessThan(READ_ON / 4);
}

const TOO_LARGE = new RegExp(`larger than ${LIMIT} bytes`);
const DOORS: [string, Record<string, string>][] = [
  ['/api.php', {}],
  ['/api/v1/email', {}],
  ['/api/v1/emails', { Authorization: '' }], // the platform's door: its key filled in below
  ['/v1/send', { Authorization: '' }],
  ['/email/v1/send', { Authorization: '' }],
];
const withKey = (headers: Record<string, string>, k: string): Record<string, string> => ('Authorization' in headers ? { Authorization: `Bearer ${k}` } : {});

describe.each(DOORS)('an upload to %s', (path, headers) => {
  it('declared too large: a 413, then the connection is closed instead of the body read on', async () => {
    expectClosedEarly(await upload(headOf(path, withKey(headers, key)), false), 413, TOO_LARGE);
  });

  it('chunked past the limit: a 413, then the connection is closed', async () => {
    expectClosedEarly(await upload(headOf(path, withKey(headers, key), true), true), 413, TOO_LARGE);
  });
});

it('a refused key before the body is read: a 401, then the connection is closed', async () => {
  const bad = 'sk_live_' + 'x'.repeat(32);
  for (const path of ['/api/v1/emails', '/v1/send', '/email/v1/send']) {
    const u = await upload(headOf(path, { Authorization: `Bearer ${bad}` }), false);
    expectClosedEarly(u, 401, /./);
  }
});

it('keeps the connection of a request whose body was read', async () => {
  const c = rawHttp(port);
  const body = JSON.stringify({ Command: 'user.login', Username: 'nobody', Password: 'x' });
  const req = `POST /api.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  c.socket.write(req);
  const deadline = Date.now() + 5000;
  while (!/\r\n\r\n\{.*\}$/s.test(c.received()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(replyOf(c.received())).toEqual({ status: 200, connection: 'keep-alive' });
  // The same connection takes a second request.
  c.socket.write(req);
  while ((c.received().match(/HTTP\/1\.1 200/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect((c.received().match(/HTTP\/1\.1 200/g) ?? []).length).toBe(2);
  c.socket.destroy();
});

it('runs no request pipelined behind a refused upload: its connection was told it closes', async () => {
  const s = await senderSetup(h);
  const mail = JSON.stringify({
    Subject: 'Pipelined',
    ContentType: 'plain',
    PlainContent: 'Hi',
    From: { name: '', email: `app@${s.domain}` },
    To: [{ name: '', email: 'r@recipient.test' }],
  });
  const pipelined =
    `POST /api/v1/email HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${s.key}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(mail)}\r\n\r\n${mail}`;
  // Half-open, as a pipelining client is: it writes on after the server's FIN.
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let reply = '';
  socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(`POST /api/v1/email HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${LIMIT + 10}\r\n\r\n`);
  const deadline = Date.now() + 5000;
  while (!reply.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(replyOf(reply)).toEqual({ status: 413, connection: 'close' });
  // The refused body in full, then a request that would send mail.
  socket.write(Buffer.concat([Buffer.alloc(LIMIT + 10, 'x'), Buffer.from(pipelined)]));
  // Past the server's linger (1 s), by when a pipelined request run would have written its message. (The client,
  // half-open, sees no close of its own: the server's FIN came long ago and it writes nothing more.)
  await new Promise((r) => setTimeout(r, 1500));
  socket.destroy();
  expect(reply.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
  expect(await h.services.db('messages').where({ domain_id: s.domainId }).count({ n: '*' })).toEqual([{ n: 0 }]);
});
