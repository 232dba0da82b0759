/**
 * A delivery whose outcome cannot be recorded whole (here the events table refuses the `delivered` event, as a full
 * disk refuses INSERTs while UPDATEs still pass) is retried until its lease and grace end, then written on its row
 * alone: it is never sent again. Before, settling gave up at once on any error but an outage and left the row
 * leased, and the sweeper sent the message again every lease + grace while the error lasted.
 */
import { refuseWith } from '../helpers/refusing-trigger';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig({ LEASE_SECONDS: '2', SWEEP_GRACE_SECONDS: '1', SWEEP_INTERVAL_SECONDS: '1' });
  await refuseWith(rig.h.services.db, 'refuse_delivered', {
    table: 'events',
    op: 'INSERT',
    when: "NEW.type = 'delivered'",
    fault: 'error',
    message: 'no space left (test)',
  });
});
afterAll(async () => {
  await rig.close();
});

test('is delivered once, its row settled without its event, however long the error lasts', async () => {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: 'once',
      ContentType: 'plain',
      PlainContent: 'only once',
      From: { name: '', email: `app@${rig.s.domain}` },
      To: [{ name: '', email: 'once@dest.test' }],
    },
  });
  expect(res.body.MessageID).toBeDefined();
  const row = () => rig.h.services.db('deliveries').where({ message_id: res.body.MessageID }).first('status', 'lease_until', 'attempts');
  await waitFor(async () => (await row()).status === 'delivered', 20000, 'the row settled');
  expect(await row()).toMatchObject({ status: 'delivered', lease_until: 0, attempts: 1 });
  // Three sweeps (SWEEP_INTERVAL_SECONDS=1) and a whole lease and grace (2 s + 1 s) later, still one copy at the sink:
  // a row the sweeper took for unfinished would be sent again at its first sweep. (6 s before: nothing acts later.)
  await new Promise((r) => setTimeout(r, 3000));
  expect(rig.sink.received.filter((m) => m.to.includes('once@dest.test'))).toHaveLength(1);
  const types = await rig.h.services.db('events').where({ message_id: res.body.MessageID }).pluck('type');
  expect(types).not.toContain('delivered');
});
