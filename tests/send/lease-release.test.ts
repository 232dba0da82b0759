import type { Knex } from 'knex';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';

/**
 * An attempt that fails after its lease but before the message goes out (here the domain row's read fails in the
 * database) gives the row back at once: it used to stay leased, unsent, until LEASE_SECONDS (300 s) ran out.
 */
let h: Harness;
let sink: Sink;
let worker: DeliveryWorker | null = null;

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`, RETRY_SCHEDULE_MS: '200', LEASE_SECONDS: '300' });
});
afterAll(async () => {
  await h.services.queues.close();
  await worker?.stop();
  await h.close();
  await sink.close();
});

it('releases the lease of an attempt whose domain read failed, and delivers the message once on the next try, no attempt counted', async () => {
  const s = await senderSetup(h);
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'released',
      ContentType: 'plain',
      PlainContent: 'body',
      From: { name: 'Shop', email: `orders@${s.domain}` },
      To: [{ name: '', email: 'released@dest.test' }],
    },
  });
  expect(res.status).toBe(200);
  const id: string = res.body.MessageID;
  // The worker's first read of sender_domains goes to a table that does not exist: a real error from the database.
  let failures = 0;
  const real = h.services.db;
  const db = new Proxy(real, {
    apply(target, self, args: unknown[]) {
      if (args[0] === 'sender_domains' && failures === 0) {
        failures += 1;
        return target('no_such_table');
      }
      return Reflect.apply(target, self, args);
    },
  }) as Knex;
  worker = createDeliveryWorker({ ...h.services, db });
  await waitFor(async () => (await real('deliveries').where({ message_id: id }).first())?.status === 'delivered', 20_000, 'delivered after the release');
  expect(failures).toBe(1);
  const row = await real('deliveries').where({ message_id: id }).first();
  expect(Number(row.attempts)).toBe(1);
  expect(Number(row.lease_until)).toBe(0);
  expect(sink.received.filter((r) => r.to[0] === 'released@dest.test')).toHaveLength(1);
});
