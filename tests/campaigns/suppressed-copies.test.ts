/**
 * A campaign copy whose address is suppressed after its page was accepted ends `suppressed`, unsent
 * (src/delivery/suppressed-since.ts), whether the address went on the From domain's list or on the campaign's list's
 * own (PerList) entries, as an unsubscribe from that list does; so does one whose recipient left the list (Unsubscribed
 * through subscriber.unsubscribe or an Unsubscription webhook, or deleted from it), doors that write no suppression
 * entry. The campaign's figures still add up: such a copy counts in Sent, where failed copies count
 * (src/campaigns/progress.ts), so Sent + Cancelled = Queued.
 */
import { useCampaignRig, waitForCampaign } from '../helpers/campaign-rig';
import { holdFirstRcpt, waitFor } from '../helpers/sink';
import { addSubscriber, makeList } from '../lists/fixtures';
import { suppressedAmongShared } from '../../src/suppression/suppressions';
import { notSubscribedAmongShared } from '../../src/lists/members-now';
import { LEFT_LIST_REPLY, SUPPRESSED_REPLY } from '../../src/delivery/suppressed-since';

jest.setTimeout(90_000);

/**
 * Retries 300 ms apart, not the rig's 1 s: each leaver's refused first attempt waits one step for the retry whose check
 * this file is about, and each "not sent later" watch below is three steps.
 */
const RETRY_MS = 300;
const camp = useCampaignRig({ RETRY_SCHEDULE_MS: String(RETRY_MS) });
const cmd = camp.cmd;

const statusOf = async (email: string, campaignId: number) =>
  (
    await camp.h.services
      .db('deliveries as d')
      .join('messages as m', 'm.id', 'd.message_id')
      .where({ 'm.campaign_id': campaignId, 'd.recipient': email })
      .first('d.status')
  )?.status;
const lastReplyOf = async (email: string, campaignId: number) =>
  (
    await camp.h.services
      .db('deliveries as d')
      .join('messages as m', 'm.id', 'd.message_id')
      .where({ 'm.campaign_id': campaignId, 'd.recipient': email })
      .first('d.last_reply')
  )?.last_reply;
const receivedBy = (email: string, subject: string) =>
  camp.sink.received.filter((m) => m.to.includes(email) && m.raw.toString().includes(`Subject: ${subject}`)).length;

/**
 * Launches a campaign to `members` of a new list; `leaver`'s first attempt waits at RCPT until `suppress` has run,
 * then is refused (450), so its retry is the only send that could reach it. Answers once every copy has settled.
 */
async function campaignWithLeaver(tag: string, leaver: string, suppress: (listId: number) => Promise<void>): Promise<{ campaignId: number; listId: number }> {
  const members = [`a@${tag}.test`, `b@${tag}.test`, leaver];
  const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}` });
  for (const m of members) await addSubscriber(camp.h, camp.o, listId, m);
  const hold = holdFirstRcpt(camp.sink, leaver);
  try {
    const { CampaignID: campaignId } = await cmd('campaign.create', { CampaignName: tag, Subject: `News ${tag}`, ListID: listId, PlainContent: 'Hello' });
    expect((await cmd('campaign.launch', { CampaignID: campaignId })).Success).toBe(true);
    await waitFor(hold.held, 30_000, 'the leaver at RCPT');
    await suppress(listId);
    hold.release();
    await waitForCampaign(cmd, campaignId, 'completed', 30_000, 'the campaign to complete');
    await waitFor(
      async () => (await Promise.all(members.map((m) => statusOf(m, campaignId)))).every((s) => ['delivered', 'suppressed'].includes(s)),
      30_000,
      'every copy settled',
    );
    expect(hold.replies).toEqual(['refused']);
    return { campaignId, listId };
  } finally {
    hold.restore();
  }
}

it('adds up when one copy is suppressed after launch: Sent counts it, through campaign.get, campaigns.get and GET /api/v1/campaigns/:id', async () => {
  const leaver = 'leaver@adds-up.test';
  const { campaignId } = await campaignWithLeaver('adds-up', leaver, async () => {
    // The From domain's list, through the sender key's door.
    const res = await camp.h.request('POST', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${camp.s.key}` }, body: { EmailAddress: leaver } });
    expect(res.status).toBe(200);
  });
  expect(await statusOf(leaver, campaignId)).toBe('suppressed');
  expect(await lastReplyOf(leaver, campaignId)).toBe(SUPPRESSED_REPLY);
  expect(receivedBy(leaver, 'News adds-up')).toBe(0);

  const figures = { Recipients: 3, Queued: 3, Skipped: 0, Sent: 3, Cancelled: 0, Delivered: 2, Bounced: 0, Opened: 0, Clicked: 0 };
  const got = await cmd('campaign.get', { CampaignID: campaignId });
  expect(got.Campaign.Progress).toEqual(figures);
  const listed = await cmd('campaigns.get', { IncludeContent: 0 });
  expect(listed.Campaigns.find((c: { CampaignID: number }) => c.CampaignID === campaignId).Progress).toEqual(figures);

  const made = await camp.h.call({ Command: 'user.apikey.create', SessionID: camp.s.sessionId, Note: 'platform', KeyType: 'account' });
  const res = await camp.h.request('GET', `/api/v1/campaigns/${campaignId}`, { headers: { Authorization: `Bearer ${made.APIKey.APIKey}` } });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ recipients: 3, queued: 3, skipped: 0, sent: 3, cancelled: 0, delivered: 2, bounced: 0 });
});

it("never sends a copy whose address was unsubscribed from the campaign's list (a PerList entry) after its page was accepted", async () => {
  const leaver = 'leaver@per-list.test';
  const lookups = camp.h.services.store.batchers.stats('suppression-no-patterns').items;
  const { campaignId } = await campaignWithLeaver('per-list', leaver, async (listId) => {
    // The list's own scope only: the domain's list and the account's entries stay without the address.
    const r = await cmd('suppression.import', { ListID: listId, SuppressionSource: 'Unsubscribe', EmailAddresses: [leaver] });
    expect(r).toMatchObject({ Success: true, TotalImported: 1 });
  });
  expect(await statusOf(leaver, campaignId)).toBe('suppressed');
  expect(await statusOf('a@per-list.test', campaignId)).toBe('delivered');
  expect(receivedBy(leaver, 'News per-list')).toBe(0);
  // The retry's check went through the shared (coalesced) lookup, as the others do.
  expect(camp.h.services.store.batchers.stats('suppression-no-patterns').items).toBeGreaterThan(lookups);
  expect(await camp.h.services.db('suppressions').where({ email: leaver }).first()).toBeUndefined();
  expect((await cmd('campaign.get', { CampaignID: campaignId })).Campaign.Progress).toMatchObject({ Queued: 3, Sent: 3, Cancelled: 0, Delivered: 2 });
  // Still not sent three retry steps later (no further retry).
  await new Promise((r) => setTimeout(r, 3 * RETRY_MS + 100));
  expect(receivedBy(leaver, 'News per-list')).toBe(0);
});

/**
 * A leaver who left the list through `leave` (no suppression entry written): the retry ends `suppressed`, saying so,
 * after a lookup through the shared list-members batcher; the others are delivered and the figures add up.
 */
async function leftTheList(tag: string, leave: (listId: number, leaver: string) => Promise<void>): Promise<void> {
  const leaver = `leaver@${tag}.test`;
  const lookups = camp.h.services.store.batchers.stats('list-members').items;
  const { campaignId } = await campaignWithLeaver(tag, leaver, (listId) => leave(listId, leaver));
  expect(await statusOf(leaver, campaignId)).toBe('suppressed');
  expect(await lastReplyOf(leaver, campaignId)).toBe(LEFT_LIST_REPLY);
  expect(await statusOf(`a@${tag}.test`, campaignId)).toBe('delivered');
  expect(receivedBy(leaver, `News ${tag}`)).toBe(0);
  expect(receivedBy(`a@${tag}.test`, `News ${tag}`)).toBe(1);
  expect(camp.h.services.store.batchers.stats('list-members').items).toBeGreaterThan(lookups);
  // Stopped by the list's members, not by an entry: none was written anywhere.
  expect(await camp.h.services.db('suppressions').where({ email: leaver }).first()).toBeUndefined();
  expect(await camp.h.services.db('suppression_entries').where({ email: leaver }).first()).toBeUndefined();
  const event = await camp.h.services
    .db('events as e')
    .join('deliveries as d', 'd.id', 'e.delivery_id')
    .join('messages as m', 'm.id', 'd.message_id')
    .where({ 'e.type': 'suppressed', 'm.campaign_id': campaignId, 'd.recipient': leaver })
    .first('e.data');
  expect(JSON.parse(event.data)).toMatchObject({ reason: LEFT_LIST_REPLY });
  const figures = { Recipients: 3, Queued: 3, Skipped: 0, Sent: 3, Cancelled: 0, Delivered: 2, Bounced: 0 };
  expect((await cmd('campaign.get', { CampaignID: campaignId })).Campaign.Progress).toMatchObject(figures);
  // Still not sent three retry steps later (no further retry).
  await new Promise((r) => setTimeout(r, 3 * RETRY_MS + 100));
  expect(receivedBy(leaver, `News ${tag}`)).toBe(0);
}

it("sends a campaign's fresh first attempts on its page's own read: no member lookup", async () => {
  const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}` });
  for (const m of ['a@fresh.test', 'b@fresh.test']) await addSubscriber(camp.h, camp.o, listId, m);
  const lookups = camp.h.services.store.batchers.stats('list-members').items;
  const { CampaignID: campaignId } = await cmd('campaign.create', { CampaignName: 'fresh', Subject: 'News fresh', ListID: listId, PlainContent: 'Hello' });
  expect((await cmd('campaign.launch', { CampaignID: campaignId })).Success).toBe(true);
  await waitFor(
    async () => (await Promise.all(['a@fresh.test', 'b@fresh.test'].map((m) => statusOf(m, campaignId)))).every((s) => s === 'delivered'),
    30_000,
    'both copies delivered',
  );
  expect(camp.h.services.store.batchers.stats('list-members').items).toBe(lookups);
});

it('never sends a copy whose recipient unsubscribed through subscriber.unsubscribe after its page was accepted', async () => {
  await leftTheList('unsub-cmd', async (listId, leaver) => {
    const r = await camp.h.call({ Command: 'subscriber.unsubscribe', ListID: listId, EmailAddress: leaver, IPAddress: '203.0.113.5' });
    expect(r).toMatchObject({ Success: true });
  });
});

it("never sends a copy whose recipient unsubscribed through the list's Unsubscription webhook after its page was accepted", async () => {
  const made = await camp.h.call({ Command: 'user.apikey.create', SessionID: camp.s.sessionId, Note: 'hooks' });
  await leftTheList('unsub-hook', async (listId, leaver) => {
    const hook = await camp.h.request('POST', '/api/v1/user.webhook', {
      body: { APIKey: made.APIKey.APIKey, Name: 'leave', RelListID: listId, Event: 'Unsubscription' },
    });
    expect(hook.body).toMatchObject({ Success: true });
    const res = await camp.h.request('POST', `/system/webhook/${hook.body.Webhook.HashedID}`, { body: { EmailAddress: leaver } });
    expect(res.body).toMatchObject({ Success: true });
  });
});

it('never sends a copy whose recipient was deleted from the list after its page was accepted', async () => {
  await leftTheList('deleted', async (listId, leaver) => {
    const row = await camp.h.services.db('subscribers').where({ list_id: listId, email: leaver }).first('id');
    expect(await cmd('subscriber.delete', { ListID: listId, SubscriberID: Number(row.id) })).toMatchObject({ DeletedCount: 1 });
  });
});

it("answers lookups made together for different lists each by its own list's entries", async () => {
  const [mine, other] = [await makeList(camp.h, camp.o), await makeList(camp.h, camp.o)];
  const x = 'x@together.test';
  expect(await cmd('suppression.import', { ListID: mine, SuppressionSource: 'Unsubscribe', EmailAddresses: [x] })).toMatchObject({ TotalImported: 1 });
  const look = (listId?: number) => suppressedAmongShared(camp.h.services.store, camp.s.domainId, [x.toUpperCase()], { patterns: false, listId });
  // Several rounds of lookups made at once: some share a batch, and each list's answer stays its own.
  for (let i = 0; i < 3; i++) {
    const found = await Promise.all([look(other), look(mine), look(), look(other), look(mine)]);
    expect(found.map((f) => [...f])).toEqual([[], [x], [], [], [x]]);
  }
});

it("answers member lookups made together for different lists each by its own list's members", async () => {
  const [mine, other] = [await makeList(camp.h, camp.o), await makeList(camp.h, camp.o)];
  const y = 'y@members-together.test';
  await addSubscriber(camp.h, camp.o, mine, y);
  const look = (listId: number) => notSubscribedAmongShared(camp.h.services.store, listId, [y.toUpperCase()]);
  // Several rounds of lookups made at once: some share a batch, and each list's answer stays its own.
  for (let i = 0; i < 3; i++) {
    const gone = await Promise.all([look(other), look(mine), look(other), look(mine)]);
    expect(gone.map((g) => [...g])).toEqual([[y], [], [y], []]);
  }
});
