import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

/**
 * A lease that ran out is taken again only after the sweeper's grace, whatever brings a job for the row (its own
 * scheduled job, a restarted worker's sweep): its worker may still be recording a send it made while the database
 * was away, and a second attempt before then would send the message twice.
 */
const GRACE_MS = 3000;
let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig({ SWEEP_GRACE_MS: String(GRACE_MS), SWEEP_INTERVAL_MS: '100' });
});
afterAll(() => rig.close());

// A lease is its stamp (src/delivery/leased.ts): the row keeps its waiting status; an earlier release stored 'sending'.
it.each([
  ['the stamp alone', 'scheduled'],
  ["an earlier release's lease", 'sending'],
])("leaves an expired lease (%s) to its worker for the grace, even when the row's own job comes due", async (_, status) => {
  const { h, s, sink } = rig;
  const to = `graced-${status}@recipient.test`;
  const sendAt = Math.floor(Date.now() / 1000) + 2;
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'graced',
      ContentType: 'plain',
      PlainContent: 'body',
      From: { name: '', email: `orders@${s.domain}` },
      To: [{ name: '', email: to }],
      SendAt: sendAt,
    },
  });
  expect(res.status).toBe(200);
  // A worker that died (or is stuck recording) mid-send: its lease ran out just before the row's job comes due.
  const leaseUntil = sendAt * 1000 - 500;
  await h.services.db('deliveries').where({ message_id: res.body.MessageID }).update({ status, lease_owner: 'dead-worker', lease_until: leaseUntil });
  await waitFor(() => sink.received.some((r) => r.to[0] === to), 15_000, 'the delivery after the grace');
  const arrived = sink.received.find((r) => r.to[0] === to)!.at;
  expect(arrived).toBeGreaterThanOrEqual(leaseUntil + GRACE_MS);
  expect(sink.received.filter((r) => r.to[0] === to)).toHaveLength(1);
});
