/**
 * getevents' TotalRecords with MESSAGE_RETENTION_DAYS: the purge deletes old messages' events and keeps their hourly
 * rollups, which the count reads; hours before the retention window are counted from the events that are left.
 */
import { recordEvents } from '../../src/events/record';
import { purgeMessages } from '../../src/mail/retention';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

const DAY = 86_400_000;
let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness({ MESSAGE_RETENTION_DAYS: '30' });
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.close();
});

async function send(to: string): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 'Old', ContentType: 'plain', PlainContent: 'x', From: { email: `app@${s.domain}` }, To: [{ email: to }] },
  });
  expect(res.status).toBe(200);
  return res.body.MessageID;
}

const ymd = (ms: number) => new Date(ms).toISOString().slice(0, 10);

it('counts only the events still kept, so the last page it promises holds them', async () => {
  const db = h.services.db;
  const old = await send('old@count.test');
  await send('new@count.test');
  // The old message went out 35 days ago: its events then (and their hourly rollups), its delivery ended.
  const then = Date.now() - 35 * DAY;
  await db('messages').where({ id: old }).update({ created_at: then });
  await db('deliveries').where({ message_id: old }).update({ status: 'delivered', finished_at: then });
  const delivery = await db('deliveries').where({ message_id: old }).first('id');
  const at = (type: string, ms: number) => ({
    message_id: old,
    delivery_id: Number(delivery.id),
    domain_id: s.domainId,
    user_id: s.userId,
    type,
    created_at: ms,
    data: { recipient: 'old@count.test' },
  });
  // Its queued event (and that event's count in this hour's rollups) moves back to then as well.
  await db('events').where({ message_id: old }).delete();
  await db('stats_rollup').where({ domain_id: s.domainId, type: 'queued' }).decrement('count', 1);
  await recordEvents(db, [at('queued', then), at('delivered', then), at('opened', then + 60_000), at('clicked', then + 120_000)]);

  const page = async () =>
    h.call({ Command: 'emailgateway.getevents', SessionID: s.sessionId, DomainID: s.domainId, StartFrom: 0, RetrieveCount: 100, StartDate: ymd(then - DAY) });
  const before = await page();
  expect(before.TotalRecords).toBe(before.Events.length);

  expect(await purgeMessages(db, 30)).toBe(1);
  const after = await page();
  expect(after.Events.every((e: { MessageID?: string }) => e.MessageID !== old)).toBe(true);
  expect(after.Events.length).toBe(before.Events.length - 4); // its queued event and the three above
  expect(after.TotalRecords).toBe(after.Events.length);
});
