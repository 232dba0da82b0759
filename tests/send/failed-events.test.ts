import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';

/**
 * A delivery that fails before any SMTP attempt (its stored message cannot be composed) records a `failed` event like
 * every other failure: it used to change only the row, so no webhook fired and the stats counted it as still sending.
 */
let h: Harness;
let sink: Sink;
let worker: DeliveryWorker | null = null;

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}` });
});
afterAll(async () => {
  await h.services.queues.close();
  await worker?.stop();
  await h.close();
  await sink.close();
});

it('fails a message whose stored content cannot be composed with a failed event naming why', async () => {
  const s = await senderSetup(h);
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'broken',
      ContentType: 'plain',
      PlainContent: 'body',
      From: { name: 'Shop', email: `orders@${s.domain}` },
      To: [{ name: '', email: 'x@dest.test' }],
    },
  });
  expect(res.status).toBe(200);
  const id: string = res.body.MessageID;
  // Damaged in storage before any worker runs.
  await h.services
    .db('messages')
    .where({ id })
    .update({ content: Buffer.from('garbage') });
  worker = createDeliveryWorker(h.services);
  const lookup = async () => (await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } })).body;
  // 30 s: alone this takes under a second, but a full run near its end once took more than 10 s.
  await waitFor(async () => (await lookup()).Status === 'failed', 30_000, 'failed');
  const reply = 'message cannot be composed: stored content is damaged';
  await waitFor(async () => (await lookup()).Recipients?.[0]?.Events?.length === 2, 5000, 'the failed event');
  const r = (await lookup()).Recipients[0];
  expect(r).toMatchObject({ Status: 'failed', Attempts: 0, LastReply: reply });
  expect(r.Events.map((e: { Event: string }) => e.Event)).toEqual(['queued', 'failed']);
  expect(r.Events[1].Data).toMatchObject({ smtp_reply: reply });
  expect(sink.received).toEqual([]);
}, 60_000);
