/**
 * The bounce intake is open to anyone and looks every RCPT's host up in sender_domains: a message takes at most 10
 * recipients (452 4.5.3 beyond, without a lookup), and a connection that has had 10 recipients refused is answered
 * 421 and closed, so one client cannot make a lookup per pipelined RCPT.
 */
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { rawSmtp } from '../helpers/smtp-raw';

let h: Harness;
let inbound: InboundListener;
let s: Awaited<ReturnType<typeof senderSetup>>;
let lookups = 0;

beforeAll(async () => {
  h = await startHarness({ INBOUND_SMTP_PORT: '0', SMTP_HOST: '127.0.0.1' });
  inbound = await startInboundSmtp(h.services);
  s = await senderSetup(h);
  h.services.db.on('query', (q: { sql: string }) => {
    if (/sender_domains/.test(q.sql)) lookups += 1;
  });
});
afterAll(async () => {
  await inbound.close();
  await h.close();
});

/** Sends every line at once (PIPELINING) and reads `n` replies. */
async function pipelined(c: Awaited<ReturnType<typeof rawSmtp>>, lines: string[], n = lines.length): Promise<string[]> {
  c.send(lines.map((l) => `${l}\r\n`).join(''));
  const replies: string[] = [];
  for (let i = 0; i < n; i++) replies.push(await c.reply());
  return replies;
}

it('takes 10 recipients in a message and answers the 11th 452 4.5.3 without looking it up', async () => {
  const c = await rawSmtp(inbound.port);
  try {
    expect((await pipelined(c, ['EHLO x', 'MAIL FROM:<>']))[1]).toMatch(/^250 /);
    const before = lookups;
    const rcpts = Array.from({ length: 12 }, (_, i) => `RCPT TO:<r${i}@sl.${s.domain}>`);
    const replies = await pipelined(c, rcpts);
    expect(replies.slice(0, 10).every((r) => r.startsWith('250 '))).toBe(true);
    expect(replies.slice(10)).toEqual(['452 4.5.3 Too many recipients (at most 10 per message)', '452 4.5.3 Too many recipients (at most 10 per message)']);
    expect(lookups - before).toBe(10);
  } finally {
    c.close();
  }
});

it('closes a connection with 421 after 10 refused recipients, across transactions, with no lookup after them', async () => {
  const c = await rawSmtp(inbound.port);
  const closed = new Promise<void>((resolve) => c.socket.once('close', () => resolve()));
  try {
    await pipelined(c, ['EHLO x', 'MAIL FROM:<>']);
    const before = lookups;
    const unknown = (from: number, n: number) => Array.from({ length: n }, (_, i) => `RCPT TO:<a${from + i}@sl.nope.test>`);
    const first = await pipelined(c, [...unknown(0, 6), 'RSET', 'MAIL FROM:<>']);
    expect(first.slice(0, 6).every((r) => r.startsWith('550 5.7.1 Relay access denied'))).toBe(true);
    // 4 more refusals, then the 421; the rest of the pipeline is never answered.
    const rest = await pipelined(c, unknown(6, 200), 5);
    expect(rest.slice(0, 4).every((r) => r.startsWith('550 5.7.1 Relay access denied'))).toBe(true);
    expect(rest[4]).toBe('421 4.7.0 Too many refused recipients; closing connection');
    await closed;
    await new Promise((r) => setTimeout(r, 100));
    expect(lookups - before).toBe(10);
    expect(c.pending()).toBe('');
  } finally {
    c.close();
  }
});

it('counts refusals per connection: the next connection from the same address is served', async () => {
  const c = await rawSmtp(inbound.port);
  try {
    const r = await pipelined(c, ['EHLO x', 'MAIL FROM:<>', `RCPT TO:<someone@sl.${s.domain}>`]);
    expect(r[2]).toMatch(/^250 /);
  } finally {
    c.close();
  }
});
