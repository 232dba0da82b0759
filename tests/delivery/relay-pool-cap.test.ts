import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';

/**
 * SMTP_RELAY_MAX_CONNECTIONS caps the sessions one worker opens to the smarthost, whatever DELIVERY_CONCURRENCY
 * allows: a worker with 30 slots and 40 messages waiting, against a smarthost that takes 100 ms per message, keeps
 * the cap's number of sessions busy (so deliveries run in parallel) and never opens one more.
 */
const CAP = 4;
const MESSAGES = 40;

let h: Harness;
let sink: Sink;
let worker: DeliveryWorker | null = null;

beforeAll(async () => {
  sink = await startSink({}, { holdMs: 100 });
  h = await startHarness({
    DELIVERY_MODE: 'relay',
    SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
    DELIVERY_CONCURRENCY: '30',
    SMTP_RELAY_MAX_CONNECTIONS: String(CAP),
    DKIM_SIGNING: '0',
  });
});
afterAll(async () => {
  await h.services.queues.close();
  await worker?.stop();
  await h.close();
  await sink.close();
});

it('opens no more than SMTP_RELAY_MAX_CONNECTIONS sessions to the smarthost while more deliveries are in flight', async () => {
  const s = await senderSetup(h);
  const messages = Array.from({ length: MESSAGES }, (_, i) => ({
    Subject: `m${i}`,
    ContentType: 'plain',
    PlainContent: `message ${i}`,
    From: { name: 'Shop', email: `orders@${s.domain}` },
    To: [{ name: '', email: `r${i}@dest.test` }],
  }));
  const res = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: { Messages: messages } });
  expect(res.status).toBe(200);
  // Started with all 40 waiting, so 30 deliveries want a session at once.
  worker = createDeliveryWorker(h.services);
  await waitFor(() => sink.received.length === MESSAGES, 20000, 'all 40 at the sink');
  expect(new Set(sink.received.map((r) => r.to[0]))).toEqual(new Set(messages.map((m) => m.To[0].email)));
  // Parallel up to the cap (each message holds its session 100 ms), never past it.
  expect(sink.maxInData).toBe(CAP);
  expect(sink.maxOpen).toBe(CAP);
});
