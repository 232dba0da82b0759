import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';

/**
 * An attempt whose lease ran out mid-send and was taken again by the same worker (its owner name is per worker, not
 * per attempt) records nothing when it ends late: the lease is matched by its stamp. It used to record a second
 * `delivered`, or a late `deferred` over the `delivered` with a retry that sent a third copy.
 */
let rig: RelayRig;

beforeAll(async () => {
  rig = await startRelayRig({ LEASE_SECONDS: '1', SWEEP_GRACE_SECONDS: '0', SWEEP_INTERVAL_MS: '100', RETRY_SCHEDULE_MS: '100' });
});
afterAll(() => rig.close());

const events = async (id: string): Promise<string[]> => {
  const res = await rig.h.request('GET', `/api/v1/events?MessageID=${id}&RetrieveCount=100`, { headers: { Authorization: `Bearer ${rig.s.key}` } });
  return (res.body.Events as { Event: string }[]).map((e) => e.Event).sort();
};

it('keeps the outcome of the attempt that holds the lease when a stale attempt of the same worker ends late', async () => {
  const { h, s, sink } = rig;
  const to = 'stale@recipient.test';
  // The first copy's DATA reply waits past the lease (the same worker takes the row again and delivers), then is a 451.
  let copies = 0;
  let staleAnswered = false;
  sink.beforeReply = async (rcpts) => {
    if (rcpts[0] !== to || ++copies > 1) return undefined;
    // Upper bounds, not expectations: about 1.5 s each alone (the 1 s lease, a sweep, the retake), far more on a loaded run.
    await waitFor(() => sink.received.some((r) => r.to[0] === to), 15_000, 'the second attempt delivered');
    await new Promise((r) => setTimeout(r, 200));
    staleAnswered = true;
    return smtpError(451, '4.3.0 try again later');
  };
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'once', ContentType: 'plain', PlainContent: 'body', From: { name: 'Shop', email: `orders@${s.domain}` }, To: [{ name: '', email: to }] },
  });
  expect(res.status).toBe(200);
  const id: string = res.body.MessageID;
  await waitFor(() => staleAnswered, 20_000, 'the stale attempt answered');
  // Room for what a late deferral would cause: its settle, the 100 ms retry and a third copy.
  await new Promise((r) => setTimeout(r, 800));
  const row = await h.services.db('deliveries').where({ message_id: id }).first();
  expect(row.status).toBe('delivered');
  expect(sink.received.filter((r) => r.to[0] === to)).toHaveLength(1);
  // One delivery event; a deferral may come before it (the attempt's deadline cut the first one short), never after.
  const all = await events(id);
  expect(all.filter((e) => e === 'delivery')).toHaveLength(1);
  expect(all.filter((e) => e !== 'deferred')).toEqual(['delivery', 'queued']);
  // Nothing after the delivery: the stale attempt's late 451 recorded no deferral.
  const stored = (await h.services.db('events').where({ message_id: id }).orderBy('id').select('type')).map((e: { type: string }) => e.type);
  expect(stored.slice(stored.indexOf('delivered'))).toEqual(['delivered']);
});
