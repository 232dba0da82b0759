/** A delivery worker stopped on its own (not by closing the queues) takes no more jobs; a new one takes them up. */
import { createDeliveryWorker } from '../../src/delivery/worker';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig();
});
afterAll(() => rig.close());

it('stop() ends its queue consumer: a message sent after it waits, and the next worker delivers it', async () => {
  await rig.worker.stop();
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'After stop',
      ContentType: 'plain',
      PlainContent: 'Hello.',
      From: { name: '', email: `app@${rig.s.domain}` },
      To: [{ name: '', email: 'reader@dest.test' }],
    },
  });
  expect(res.status).toBe(200);
  await new Promise((r) => setTimeout(r, 500));
  expect(rig.sink.received).toHaveLength(0);
  expect(await rig.h.services.db('deliveries').where({ message_id: res.body.MessageID }).first()).toMatchObject({ status: 'queued', attempts: 0 });
  const next = createDeliveryWorker(rig.h.services);
  try {
    await waitFor(() => rig.sink.received.length === 1, 10_000, 'the next worker to deliver');
  } finally {
    await rig.h.services.queues.close();
    await next.stop();
  }
});
