import { insertOpens } from '../helpers/open-events';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

/**
 * A message's lookup lists its first 1,000 events and, past them, every type's totals: a message's events have no
 * bound (every pixel load adds one), and 200,000 of them made a 30 MB reply. The CyberPanel and CloudMails lookups
 * read their counts from the totals.
 */
let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig();
});
afterAll(() => rig.close());

it('lists the first 1,000 events and gives the totals past them, which the peer lookups count from', async () => {
  const { h, s, sink } = rig;
  const to = 'opener@recipient.test';
  const sent = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'Opened a lot', ContentType: 'plain', PlainContent: 'x', From: { name: '', email: `news@${s.domain}` }, To: [{ name: '', email: to }] },
  });
  expect(sent.status).toBe(200);
  const id: string = sent.body.MessageID;
  await waitFor(() => sink.received.some((r) => r.to[0] === to), 15_000, 'the delivery');
  await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first()).status === 'delivered', 5000, 'delivered');
  // 1,500 opens a second apart.
  const first = Date.now() + 60_000;
  await insertOpens(h.services.db, id, 1500, { at: (i) => first + i * 1000, data: (i) => ({ recipient: to, unique: i === 0 }) });

  const octeth = await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
  expect(octeth.status).toBe(200);
  const events = octeth.body.Recipients[0].Events as { Event: string }[];
  expect(events).toHaveLength(1000);
  expect(events.slice(0, 2).map((e) => e.Event)).toEqual(['queued', 'delivered']);
  expect(octeth.body.EventsTruncated).toBe(true);
  expect(octeth.body.EventTotals.opened).toEqual({ Count: 1500, FirstAt: Math.floor(first / 1000), LastAt: Math.floor((first + 1499_000) / 1000) });
  expect(octeth.body.EventTotals.delivered.Count).toBe(1);
  // Past the cap the reply is read from its event on its own (the row keeps none: a first-attempt delivery).
  expect(octeth.body.Recipients[0].LastReply).toMatch(/^250 /);

  const cyber = await h.request('GET', `/email/v1/messages/${id}`, { headers: { Authorization: `Bearer ${s.key}` } });
  expect(cyber.body.data).toMatchObject({ status: 'delivered', opened: true, open_count: 1500, clicked: false });
  expect(cyber.body.data.opened_at).toBe(new Date(Math.floor(first / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'));
});
