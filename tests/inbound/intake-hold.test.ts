/**
 * The bounce intake holds only the start of each message: it takes up to 10 MiB from anyone (no AUTH) on up to
 * SMTP_MAX_CONNECTIONS connections, but nothing reads past the complaint check's 2 MiB, so holding every byte let a
 * few thousand connections take gigabytes. The stored row keeps the message's real size.
 */
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { RawSmtp, rawSmtp, say } from '../helpers/smtp-raw';
import { reportTarget } from '../helpers/report-target';

let h: Harness;
let inbound: InboundListener;
let verp: string;

beforeAll(async () => {
  h = await startHarness({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
  inbound = await startInboundSmtp(h.services);
  verp = (await reportTarget(h, await senderSetup(h), 'held@dest.test')).verp;
});
afterAll(async () => {
  await inbound.close();
  await h.close();
});

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const external = () => {
  gc();
  return process.memoryUsage().arrayBuffers;
};

/** A connection that has said DATA and been answered 354. */
async function inData(): Promise<RawSmtp> {
  const c = await rawSmtp(inbound.port);
  for (const line of ['EHLO mta.test', 'MAIL FROM:<>', `RCPT TO:<${verp}>`, 'DATA']) await say(c, line);
  return c;
}

/** Writes `bytes` of body as text lines, a piece at a time (no Buffer of the whole is ever made here). */
async function writeBody(socket: net.Socket, bytes: number): Promise<void> {
  const line = `${'x'.repeat(76)}\r\n`;
  const piece = 'Subject: big\r\n\r\n' + line.repeat(Math.floor(65536 / line.length));
  for (let sent = 0; sent < bytes; sent += piece.length) {
    if (!socket.write(piece)) await new Promise((r) => socket.once('drain', r));
  }
}

test('eight 9 MiB messages in flight hold about 2 MiB each, and each is stored with its real size', async () => {
  const before = external();
  const conns = await Promise.all(Array.from({ length: 8 }, () => inData()));
  await Promise.all(conns.map((c) => writeBody(c.socket, 9 * 1024 * 1024)));
  // Every byte has reached the server's stream (the intake answers only after the final dot).
  await new Promise((r) => setTimeout(r, 300));
  const held = external() - before;
  expect(held).toBeLessThan(40 * 1024 * 1024); // holding every byte: over 72 MiB
  const replies = await Promise.all(
    conns.map(async (c) => {
      c.socket.write('\r\n.\r\n');
      const r = await c.reply();
      c.socket.destroy();
      return r;
    }),
  );
  for (const r of replies) expect(r).toMatch(/^250 2\.0\.0 Ok: stored as \d+$/);
  const rows = await h.services.db('inbound_messages').orderBy('id', 'desc').limit(8).select('size');
  for (const row of rows) expect(Number(row.size)).toBeGreaterThan(9 * 1024 * 1024);
});
