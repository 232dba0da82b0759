import net from 'node:net';
import { InboundListener, startInboundSmtp } from '../../src/inbound/listener';
import { SmtpFront, startSmtpFront } from '../../src/smtp/front';
import { greetingDelayAvailable } from '../../src/smtp/greeting';
import { Harness, startHarness } from '../helpers/harness';

/**
 * The relay front greets at once (SMTP_GREETING_DELAY_MS, default 0) instead of after smtp-server's fixed
 * 100 ms pause; the bounce listener, which faces the internet as an MX, keeps the library's pause.
 */
let h: Harness;
const fronts: SmtpFront[] = [];
let inbound: InboundListener;

beforeAll(async () => {
  h = await startHarness({ SMTP_PORT: '0', SMTP_HOST: '127.0.0.1', INBOUND_SMTP_PORT: '0' });
  fronts.push(await startSmtpFront(h.services));
  inbound = await startInboundSmtp(h.services);
});
afterAll(async () => {
  for (const f of fronts) await f.close();
  await inbound.close();
  await h.close();
});

/** Connects, optionally speaks at once, and gives the milliseconds until the first reply line and that line. */
function firstReply(port: number, speakFirst?: string): Promise<{ ms: number; line: string }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('no reply within 5 s')));
    socket.on('connect', () => {
      if (speakFirst) socket.write(speakFirst);
    });
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n');
      if (end < 0) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      socket.end('QUIT\r\n');
      socket.destroy();
      resolve({ ms, line: buf.slice(0, end) });
    });
    socket.on('error', reject);
  });
}

/** The quickest of a few greetings: a loaded machine can slow any one, never speed one up past a pause. */
async function quickest(port: number, n = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await firstReply(port);
    expect(r.line).toMatch(/^220 /);
    times.push(r.ms);
  }
  return Math.min(...times);
}

test('the override applies to the installed smtp-server', () => {
  expect(greetingDelayAvailable()).toBe(true);
});

test('the relay front greets without the 100 ms pause by default', async () => {
  expect(h.services.config.smtpGreetingDelayMs).toBe(0);
  // The pause alone would make every greeting 100 ms or more; 90 leaves a loaded machine the most room short of it.
  expect(await quickest(fronts[0].ports[0], 10)).toBeLessThan(90);
});

test('SMTP_GREETING_DELAY_MS sets the pause, and a client that talks first is refused', async () => {
  h.services.config.smtpGreetingDelayMs = 300;
  const slow = await startSmtpFront(h.services);
  h.services.config.smtpGreetingDelayMs = 0;
  fronts.push(slow);
  expect(await quickest(slow.ports[0], 3)).toBeGreaterThanOrEqual(290);
  const early = await firstReply(slow.ports[0], 'EHLO early.example\r\n');
  expect(early.line).toMatch(/^421 .*You talk too soon/);
});

test("the bounce listener keeps smtp-server's own 100 ms pause", async () => {
  expect(await quickest(inbound.port, 3)).toBeGreaterThanOrEqual(95);
});
