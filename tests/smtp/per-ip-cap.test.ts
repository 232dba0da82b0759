/**
 * SMTP_MAX_CONNECTIONS_PER_IP on the relay front and on the bounce intake: connections past the cap get 421, and
 * refused ones do not free a slot (smtp-server closes them through onClose too), so retrying gets no further.
 * SMTP_MAX_AUTH_FAILURES on the relay front: failed AUTHs past the cap get 454, from any address of the client.
 */
import net from 'node:net';
import { Harness, startHarness } from '../helpers/harness';
import { say, smtpOver } from '../helpers/smtp-raw';
import { startSmtpFront, SmtpFront } from '../../src/smtp/front';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { perIpConnectionLimit } from '../../src/smtp/per-ip-limit';
import type { SMTPServerSession } from 'smtp-server';

let h: Harness;
let front: SmtpFront;
let intake: InboundListener;

beforeAll(async () => {
  h = await startHarness({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', INBOUND_SMTP_PORT: '0', SMTP_MAX_CONNECTIONS_PER_IP: '2', SMTP_MAX_AUTH_FAILURES: '2' });
  front = await startSmtpFront(h.services);
  intake = await startInboundSmtp(h.services);
});
afterAll(async () => {
  await front.close();
  await intake.close();
  await h.close();
});

/** Connects and resolves with the socket and the greeting's code. */
function connect(port: number): Promise<{ socket: net.Socket; code: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', (d) => resolve({ socket, code: String(d).slice(0, 3) }));
  });
}

const closed = (socket: net.Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

it.each([
  ['the relay front', () => front.ports[0]],
  ['the bounce intake', () => intake.port],
])('%s holds an address to the cap, however often a refused client retries', async (_door, port) => {
  const held = [await connect(port()), await connect(port())];
  expect(held.map((c) => c.code)).toEqual(['220', '220']);
  for (let i = 0; i < 4; i += 1) {
    const refused = await connect(port());
    expect(refused.code).toBe('421');
    refused.socket.destroy();
    await closed(refused.socket);
  }
  await new Promise((r) => setTimeout(r, 100)); // the server's close handling runs after the client's
  const again = await connect(port());
  expect(again.code).toBe('421');
  again.socket.destroy();
  // A held connection that ends frees its slot.
  held[0].socket.end('QUIT\r\n');
  await closed(held[0].socket);
  await new Promise((r) => setTimeout(r, 100));
  const freed = await connect(port());
  expect(freed.code).toBe('220');
  for (const c of [held[1], freed]) c.socket.destroy();
  await new Promise((r) => setTimeout(r, 100));
});

describe('an IPv6 client is counted by its /64', () => {
  // Loopback has one IPv6 address, so the hooks are called as smtp-server calls them, with sessions from the network.
  const session = (id: string, remoteAddress: string) => ({ id, remoteAddress }) as SMTPServerSession;
  const outcome = (hooks: ReturnType<typeof perIpConnectionLimit>, s: SMTPServerSession) =>
    new Promise<string>((resolve) => hooks.onConnect(s, (err) => resolve(err ? String((err as { responseCode?: number }).responseCode) : 'ok')));

  it('refuses a third connection from another address of the same /64, and not one from the next /64 or IPv4', async () => {
    const hooks = perIpConnectionLimit(2);
    expect(await outcome(hooks, session('a', '2001:db8:1:2::1'))).toBe('ok');
    expect(await outcome(hooks, session('b', '2001:db8:1:2:ffff::9'))).toBe('ok');
    expect(await outcome(hooks, session('c', '2001:db8:1:2:abcd:1:2:3'))).toBe('421');
    expect(await outcome(hooks, session('d', '2001:db8:1:3::1'))).toBe('ok');
    expect(await outcome(hooks, session('e', '::ffff:192.0.2.7'))).toBe('ok');
    // One of the /64's connections ends (and the refused one's close frees nothing): one more may come in.
    hooks.onClose(session('c', '2001:db8:1:2:abcd:1:2:3'));
    expect(await outcome(hooks, session('f', '2001:db8:1:2::77'))).toBe('421');
    hooks.onClose(session('a', '2001:db8:1:2::1'));
    expect(await outcome(hooks, session('g', '2001:db8:1:2::77'))).toBe('ok');
  });
});

/** Sends each line after the previous reply and resolves with every reply's code (the greeting's first). */
async function dialogue(port: number, lines: string[]): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const c = smtpOver(socket);
  const codes = [(await c.reply()).slice(0, 3)];
  for (const line of lines) codes.push((await say(c, line)).slice(0, 3));
  c.close();
  return codes;
}

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

it('the relay front answers 454 to AUTH once a client has failed SMTP_MAX_AUTH_FAILURES times, on any connection', async () => {
  const port = front.ports[0];
  expect(await dialogue(port, ['EHLO client.test', `AUTH PLAIN ${plain('nobody', 'wrong-1')}`])).toEqual(['220', '250', '535']);
  expect(await dialogue(port, ['EHLO client.test', `AUTH PLAIN ${plain('nobody', 'wrong-2')}`])).toEqual(['220', '250', '535']);
  // The cap is reached: a new connection's AUTH is refused before the credentials are checked.
  expect(await dialogue(port, ['EHLO client.test', `AUTH PLAIN ${plain('nobody', 'wrong-3')}`])).toEqual(['220', '250', '454']);
});
