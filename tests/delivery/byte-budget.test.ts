import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { ConfigError, loadConfig } from '../../src/config';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { waitFor } from '../helpers/sink';

/**
 * DELIVERY_MAX_BYTES_IN_FLIGHT bounds the body bytes one worker holds between lease and settle, whatever
 * DELIVERY_CONCURRENCY allows: large messages wait for room (seen at the sink as fewer of them in DATA at once), and
 * one bigger than the whole budget goes alone instead of waiting for ever.
 */
const BUDGET = 1 << 20;
const LARGE = 400_000; // two fit in the budget, three do not
const OVERSIZED = 1_500_000;

/** A relay sink that takes 150 ms to answer each message and counts the large ones in DATA at the same time. */
interface SlowSink {
  port: number;
  received: { to: string; bytes: number }[];
  maxLargeAtOnce: number;
  /** How many large messages were in DATA beside the oversized one (0 when it went alone). */
  besideOversized: number;
  close(): Promise<void>;
}

async function startSlowSink(): Promise<SlowSink> {
  let large = 0;
  let oversizedIn = false;
  const sink: SlowSink = { port: 0, received: [], maxLargeAtOnce: 0, besideOversized: 0, close: async () => undefined };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    closeTimeout: 50,
    size: 10 * 1024 * 1024,
    onData(stream, session, cb) {
      const to = session.envelope.rcptTo[0]?.address ?? '';
      const big = to.startsWith('large') || to.startsWith('oversized');
      if (big) {
        large += 1;
        sink.maxLargeAtOnce = Math.max(sink.maxLargeAtOnce, large);
        if (to.startsWith('oversized')) oversizedIn = true;
        if (oversizedIn) sink.besideOversized = Math.max(sink.besideOversized, large - 1);
      }
      let bytes = 0;
      stream.on('data', (c: Buffer) => (bytes += c.length));
      stream.on('end', () =>
        setTimeout(() => {
          sink.received.push({ to, bytes });
          if (big) large -= 1;
          if (to.startsWith('oversized')) oversizedIn = false;
          cb(null);
        }, 150),
      );
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}

let h: Harness;
let sink: SlowSink;
let worker: DeliveryWorker | null = null;

beforeAll(async () => {
  sink = await startSlowSink();
  h = await startHarness({
    DELIVERY_MODE: 'relay',
    SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
    DELIVERY_CONCURRENCY: '20',
    DELIVERY_MAX_BYTES_IN_FLIGHT: String(BUDGET),
  });
});
afterAll(async () => {
  await h.services.queues.close();
  await worker?.stop();
  await h.close();
  await sink.close();
});

const text = (n: number, i: number) =>
  `${i} `
    .padEnd(76, 'x')
    .concat('\r\n')
    .repeat(Math.ceil(n / 78))
    .slice(0, n);

it('holds at most DELIVERY_MAX_BYTES_IN_FLIGHT of large bodies at once, sends a bigger one alone, and delivers them all', async () => {
  const s = await senderSetup(h);
  const message = (to: string, body: string) => ({
    Subject: to,
    ContentType: 'plain',
    PlainContent: body,
    From: { name: 'Shop', email: `orders@${s.domain}` },
    To: [{ name: '', email: to }],
  });
  const messages = [
    ...Array.from({ length: 5 }, (_, i) => message(`large${i}@dest.test`, text(LARGE, i))),
    message('oversized@dest.test', text(OVERSIZED, 9)),
    ...Array.from({ length: 10 }, (_, i) => message(`small${i}@dest.test`, `small ${i}`)),
  ];
  const res = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: { Messages: messages } });
  expect(res.status).toBe(200);
  // Started with all 16 waiting, so its lease groups hold several large bodies' deliveries at once.
  worker = createDeliveryWorker(h.services);
  await waitFor(() => sink.received.length === messages.length, 20000, 'all 16 at the sink');
  expect(new Set(sink.received.map((r) => r.to))).toEqual(new Set(messages.map((m) => m.To[0].email)));
  expect(sink.received.find((r) => r.to === 'oversized@dest.test')!.bytes).toBeGreaterThan(OVERSIZED);
  // Without the budget all six large ones were in DATA together (20 slots, 20 relay connections).
  expect(sink.maxLargeAtOnce).toBeLessThanOrEqual(2);
  expect(sink.besideOversized).toBe(0);
  const bytes = worker.bytesInFlight();
  expect(bytes.limit).toBe(BUDGET);
  // Never more than the budget, but for the oversized body alone.
  expect(bytes.peak).toBeGreaterThan(OVERSIZED);
  expect(bytes.peak).toBeLessThan(OVERSIZED + BUDGET / 20);
  await waitFor(
    async () => Number((await h.services.db('deliveries').where({ status: 'delivered' }).count({ n: '*' }))[0].n) === messages.length,
    15_000,
    'all 16 recorded as delivered',
  );
  await waitFor(() => worker!.bytesInFlight().inUse === 0, 15_000, 'every hold given back');
});

describe('DELIVERY_MAX_BYTES_IN_FLIGHT', () => {
  it('defaults to 32 MiB', () => {
    expect(loadConfig({}).deliveryMaxBytesInFlight).toBe(32 * 1024 * 1024);
  });

  it('refuses a value under 1 MiB or not a whole number of bytes', () => {
    expect(() => loadConfig({ DELIVERY_MAX_BYTES_IN_FLIGHT: '1000' })).toThrow(
      new ConfigError('DELIVERY_MAX_BYTES_IN_FLIGHT must be between 1048576 and 1099511627776 (got 1000)'),
    );
    expect(() => loadConfig({ DELIVERY_MAX_BYTES_IN_FLIGHT: '64MiB' })).toThrow(ConfigError);
    expect(() => loadConfig({ DELIVERY_MAX_BYTES_IN_FLIGHT: '-5' })).toThrow(/whole number/);
  });
});
