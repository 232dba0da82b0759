import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';

/**
 * A worker that starts with many deliveries of one domain reads the domain's row once and shares the read: it used
 * to send one identical read per delivery in flight, which at DELIVERY_CONCURRENCY=200 ran the pool out of
 * connections and left leased deliveries unsent until their lease ran out.
 */
let h: Harness;
let sink: Sink;
let worker: DeliveryWorker | null = null;

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`, DELIVERY_CONCURRENCY: '40', DOMAIN_CACHE_MS: '10000' });
});
afterAll(async () => {
  await h.services.queues.close();
  await worker?.stop();
  await h.close();
  await sink.close();
});

it('reads the domain row once for 30 deliveries that start together, and delivers each', async () => {
  const s = await senderSetup(h);
  const res = await h.request('POST', '/api/v1/email/batch', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Messages: Array.from({ length: 30 }, (_, i) => ({
        Subject: `shared read ${i}`,
        ContentType: 'plain',
        PlainContent: `body ${i}`,
        From: { name: 'Shop', email: `orders@${s.domain}` },
        To: [{ name: '', email: `shared${i}@dest.test` }],
      })),
    },
  });
  expect(res.status).toBe(200);
  const ids: string[] = res.body.Results.map((r: { MessageID: string }) => r.MessageID);
  // The worker starts only now, with the 30 deliveries waiting in the queue: every domain read counted is its own.
  let reads = 0;
  const count = (q: { sql: string }) => {
    // The row read itself (the lease's own subquery reads only the status, as of the lease).
    if (/^select \* from [`"]sender_domains[`"]/.test(q.sql)) reads += 1;
  };
  h.services.db.on('query', count);
  try {
    worker = createDeliveryWorker(h.services);
    await waitFor(
      async () => Number((await h.services.db('deliveries').whereIn('message_id', ids).where({ status: 'delivered' }).count({ n: '*' }))[0].n) === 30,
      15000,
      'all 30 delivered',
    );
  } finally {
    h.services.db.off('query', count);
  }
  expect(reads).toBe(1);
  expect(sink.received.filter((r) => /^shared\d+@dest\.test$/.test(r.to[0]))).toHaveLength(30);
});
