/**
 * A list send (TargetListID) picks the list's Subscribed members not suppressed, its PerList entries included
 * (src/lists/api.ts eligibleMembers); a copy sent later (a scheduled send, a retry) is checked again by the same rule
 * (src/delivery/suppressed-since.ts): one whose recipient left the list or was suppressed for it since the accept
 * ends `suppressed`, unsent. A send that only names a ListID (to personalise, to any address) is checked as other
 * mail: its accept asks neither.
 */
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { addSubscriber, makeList, Owner } from '../lists/fixtures';
import { LEFT_TARGET_LIST_REPLY, SUPPRESSED_REPLY } from '../../src/delivery/suppressed-since';

jest.setTimeout(60_000);

let rig: RelayRig;
let o: Owner;
beforeAll(async () => {
  rig = await startRelayRig();
  o = { userId: rig.s.userId, sessionId: rig.s.sessionId };
});
afterAll(async () => {
  await rig.close();
});

const email = async (body: Record<string, unknown>): Promise<string[]> => {
  const res = await rig.h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${rig.s.key}` },
    body: { ContentType: 'plain', PlainContent: 'x', From: { name: '', email: `news@${rig.s.domain}` }, ...body },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return [res.body.MessageID].flat();
};
const inTwoSeconds = () => Math.floor(Date.now() / 1000) + 2;
const delivery = async (recipient: string, ids: string[]) =>
  (await rig.h.services.db('deliveries').whereIn('message_id', ids).where({ recipient }).first('status', 'last_reply', 'attempts', 'message_id')) as
    { status: string; last_reply: string | null; attempts: number; message_id: string } | undefined;
const receivedBy = (to: string, subject: string) =>
  rig.sink.received.filter((m) => m.to.includes(to) && m.raw.toString().includes(`Subject: ${subject}`)).length;
const memberLookups = () => rig.h.services.store.batchers.stats('list-members').items;

/** A list of `members`, sent `subject` by TargetListID at SendAt two seconds ahead; `leave` runs before it comes. */
async function scheduledListSend(tag: string, leaver: string, leave: (listId: number) => Promise<void>) {
  const kept = `kept@${tag}.test`;
  const listId = await makeList(rig.h, o);
  for (const m of [kept, leaver]) await addSubscriber(rig.h, o, listId, m);
  const subject = `List ${tag}`;
  const ids = await email({ Subject: subject, TargetListID: listId, SendAt: inTwoSeconds() });
  expect(ids).toHaveLength(2);
  expect((await delivery(leaver, ids))?.status).toBe('scheduled');
  const lookups = memberLookups();
  await leave(listId);
  await waitFor(async () => (await delivery(kept, ids))?.status === 'delivered', 15_000, 'the other member delivered');
  await waitFor(async () => ['suppressed', 'delivered'].includes((await delivery(leaver, ids))?.status ?? ''), 15_000, 'the leaver settled');
  expect(receivedBy(kept, subject)).toBe(1);
  expect(receivedBy(leaver, subject)).toBe(0);
  const gone = (await delivery(leaver, ids))!;
  expect(gone.status).toBe('suppressed');
  expect(Number(gone.attempts)).toBe(0);
  // The member lookup went through the shared (coalesced) batcher.
  expect(memberLookups()).toBeGreaterThan(lookups);
  const events = await rig.h.services.db('events').where({ message_id: gone.message_id }).orderBy('id').select('type', 'data');
  expect(events.map((e) => e.type)).toEqual(['scheduled', 'suppressed']);
  // Still not sent a second later.
  await new Promise((r) => setTimeout(r, 1000));
  expect(receivedBy(leaver, subject)).toBe(0);
  return { gone, reason: JSON.parse(events[1].data).reason as string };
}

// This test and the named-ListID one below run side by side (each waits for a SendAt 2 s ahead): the named send is
// checked as other mail, with no member lookup (src/delivery/suppressed-since.ts), so the lookups this test counts
// are its own. The PerList test counts them too, so it runs on its own.
it.concurrent(
  'never sends a scheduled TargetListID copy whose member unsubscribed (subscriber.unsubscribe) before its SendAt; the other goes out',
  async () => {
    const leaver = 'leaver@list-unsub.test';
    const { gone, reason } = await scheduledListSend('list-unsub', leaver, async (listId) => {
      const r = await rig.h.call({ Command: 'subscriber.unsubscribe', ListID: listId, EmailAddress: leaver, IPAddress: '203.0.113.5' });
      expect(r).toMatchObject({ Success: true });
    });
    expect(gone.last_reply).toBe(LEFT_TARGET_LIST_REPLY);
    expect(reason).toBe(LEFT_TARGET_LIST_REPLY);
    // Stopped by the list's members, not by an entry: none was written anywhere.
    expect(await rig.h.services.db('suppressions').where({ email: leaver }).first()).toBeUndefined();
    expect(await rig.h.services.db('suppression_entries').where({ email: leaver }).first()).toBeUndefined();
  },
);

it("never sends a scheduled TargetListID copy whose address went on the list's own (PerList) entries before its SendAt", async () => {
  const leaver = 'leaver@list-perlist.test';
  const { gone, reason } = await scheduledListSend('list-perlist', leaver, async (listId) => {
    const r = await rig.h.call({
      Command: 'suppression.import',
      SessionID: o.sessionId,
      ListID: listId,
      SuppressionSource: 'Unsubscribe',
      EmailAddresses: [leaver],
    });
    expect(r).toMatchObject({ Success: true, TotalImported: 1 });
  });
  expect(gone.last_reply).toBe(SUPPRESSED_REPLY);
  expect(reason).toBe(SUPPRESSED_REPLY);
  expect(await rig.h.services.db('suppressions').where({ email: leaver }).first()).toBeUndefined();
});

it.concurrent('sends a scheduled message that names a ListID and SubscriberID though the subscriber left the list: its accept asks neither', async () => {
  const to = 'named@list-named.test';
  const listId = await makeList(rig.h, o);
  const subscriberId = await addSubscriber(rig.h, o, listId, to);
  const [id] = await email({ Subject: 'Named list', To: [{ name: '', email: to }], ListID: listId, SubscriberID: subscriberId, SendAt: inTwoSeconds() });
  expect(await rig.h.services.db('messages').where({ id }).first('list_id')).toMatchObject({ list_id: listId });
  expect(await rig.h.call({ Command: 'subscriber.unsubscribe', ListID: listId, EmailAddress: to, IPAddress: '203.0.113.5' })).toMatchObject({ Success: true });
  await waitFor(async () => ['suppressed', 'delivered'].includes((await delivery(to, [id]))?.status ?? ''), 15_000, 'the named send settled');
  expect((await delivery(to, [id]))?.status).toBe('delivered');
  expect(receivedBy(to, 'Named list')).toBe(1);
});

it("sends a TargetListID send's fresh first attempts on its accept's own read: no member lookup", async () => {
  const members = ['a@list-fresh.test', 'b@list-fresh.test'];
  const listId = await makeList(rig.h, o);
  for (const m of members) await addSubscriber(rig.h, o, listId, m);
  const lookups = memberLookups();
  const ids = await email({ Subject: 'List fresh', TargetListID: listId });
  await waitFor(async () => (await Promise.all(members.map((m) => delivery(m, ids)))).every((d) => d?.status === 'delivered'), 15_000, 'both delivered');
  expect(memberLookups()).toBe(lookups);
});

it("accepts no TargetListID copy for a member already on the list's own (PerList) entries", async () => {
  const listId = await makeList(rig.h, o);
  for (const m of ['in@list-accept.test', 'out@list-accept.test']) await addSubscriber(rig.h, o, listId, m);
  const r = await rig.h.call({
    Command: 'suppression.import',
    SessionID: o.sessionId,
    ListID: listId,
    SuppressionSource: 'Unsubscribe',
    EmailAddresses: ['out@list-accept.test'],
  });
  expect(r).toMatchObject({ Success: true, TotalImported: 1 });
  const ids = await email({ Subject: 'List accept', TargetListID: listId, SendAt: Math.floor(Date.now() / 1000) + 86400 });
  expect(ids).toHaveLength(1);
  expect(await delivery('in@list-accept.test', ids)).toBeDefined();
  expect(await delivery('out@list-accept.test', ids)).toBeUndefined();
});
