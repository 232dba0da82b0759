/**
 * MESSAGE_RETENTION_DAYS: the worker's sweep (purgeMessages) deletes a message accepted before the window once every
 * delivery of it has ended: its deliveries, events and tracked links go with it, through each store's cascades, and
 * the lookup answers as for an unknown id. A message still waiting on a delivery, a newer one and the hourly
 * statistics stay; 0 keeps everything.
 */
import crypto from 'node:crypto';
import { purgeMessages } from '../../src/mail/retention';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

let rig: RelayRig;
beforeAll(async () => {
  rig = await startRelayRig({ TRACKING_BASE_URL: 'http://track.postern.test' });
});
afterAll(async () => {
  await rig.close();
});

const DAY = 86_400_000;

async function send(to: string): Promise<string> {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: {
      Subject: `For ${to}`,
      ContentType: 'html',
      HTMLContent: '<p>Read <a href="https://example.org/news">the news</a></p>',
      TrackLinks: true,
      From: { name: 'News', email: `news@${rig.s.domain}` },
      To: [{ name: '', email: to }],
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
}

const lookup = (id: string) => rig.h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${rig.s.key}` } });

async function rows(id: string) {
  const db = rig.h.services.db;
  const n = async (table: string) => Number((await db(table).where({ message_id: id }).count({ n: '*' }))[0].n);
  return {
    messages: Number((await db('messages').where({ id }).count({ n: '*' }))[0].n),
    deliveries: await n('deliveries'),
    events: await n('events'),
    links: await n('tracked_links'),
  };
}

it('deletes an old message whose deliveries ended, with its deliveries, events and links; keeps a waiting one, a new one and the statistics', async () => {
  const db = rig.h.services.db;
  const [old, waiting, recent] = [await send('old@retention.test'), await send('waiting@retention.test'), await send('recent@retention.test')];
  await waitFor(() => rig.sink.received.length >= 3, 30000, 'three deliveries');
  await waitFor(
    async () => (await db('deliveries').whereIn('message_id', [old, waiting, recent]).where({ status: 'delivered' }).count({ n: '*' }))[0].n == 3,
    30000,
    'delivered',
  );
  const before = await rows(old);
  expect(before).toMatchObject({ messages: 1, deliveries: 1 });
  expect(before.events).toBeGreaterThan(0);
  expect(before.links).toBeGreaterThan(0);
  const stats = await db('stats_rollup').where({ domain_id: rig.s.domainId }).select();
  // Both old: one ended, one still waiting on a retry.
  await db('messages')
    .whereIn('id', [old, waiting])
    .update({ created_at: Date.now() - 31 * DAY });
  await db('deliveries')
    .where({ message_id: waiting })
    .update({ status: 'deferred', finished_at: 0, next_attempt_at: Date.now() + DAY });

  expect(await purgeMessages(db, 0)).toBe(0);
  expect(await rows(old)).toEqual(before);
  expect(await purgeMessages(db, 30)).toBe(1);

  expect(await rows(old)).toEqual({ messages: 0, deliveries: 0, events: 0, links: 0 });
  const unknown = (await lookup(crypto.randomUUID())).body;
  expect((await lookup(old)).body).toEqual(unknown);
  expect((await lookup(waiting)).body.MessageID).toBe(waiting);
  expect((await lookup(recent)).body.MessageID).toBe(recent);
  expect((await rows(recent)).events).toBeGreaterThan(0);
  expect(await db('stats_rollup').where({ domain_id: rig.s.domainId }).select()).toEqual(stats);
  // The waiting one goes once its delivery ends.
  await db('deliveries').where({ message_id: waiting }).update({ status: 'bounced', finished_at: Date.now() });
  expect(await purgeMessages(db, 30)).toBe(1);
  expect((await lookup(waiting)).body).toEqual(unknown);
});
