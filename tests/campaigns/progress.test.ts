/**
 * Campaign progress bounded in cost (src/campaigns/progress.ts), through campaign.get and campaigns.get: counted a
 * page of messages per statement (here 2), and, for a campaign whose count is costly (here every one:
 * CAMPAIGN_PROGRESS_LIVE_MS=0), reused while fresh and recounted in the background once stale; campaign.cancel makes
 * the next read count afresh.
 */
import { useCampaignRig, waitForCampaign } from '../helpers/campaign-rig';
import { waitFor } from '../helpers/sink';
import { addSubscriber, makeList } from '../lists/fixtures';

jest.setTimeout(90_000);

const camp = useCampaignRig({ CAMPAIGN_PROGRESS_PAGE: '2', CAMPAIGN_PROGRESS_LIVE_MS: '0' });
const cmd = camp.cmd;
const MEMBERS = 7;
let campaignId = 0;

const progress = async () => (await cmd('campaign.get', { CampaignID: campaignId })).Campaign.Progress;

beforeAll(async () => {
  const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}` });
  for (let i = 0; i < MEMBERS; i++) await addSubscriber(camp.h, camp.o, listId, `p${i}@progress.test`);
  campaignId = (await cmd('campaign.create', { CampaignName: 'Paged', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  await cmd('campaign.launch', { CampaignID: campaignId });
  await waitForCampaign(cmd, campaignId, 'completed', 30_000, 'the campaign to complete');
  await waitFor(() => camp.sink.received.filter((m) => m.to[0].endsWith('@progress.test')).length >= MEMBERS, 30_000, 'every member');
});

it('sums every page of a campaign (7 messages, 2 per statement) to the exact counts', async () => {
  // Counts made while deliveries were still under way are reused for 2 s, then recounted in the background.
  await waitFor(async () => (await progress()).Delivered === MEMBERS, 30_000, 'all delivered counted');
  expect(await progress()).toEqual({
    Recipients: MEMBERS,
    Queued: MEMBERS,
    Skipped: 0,
    Sent: MEMBERS,
    Cancelled: 0,
    Delivered: MEMBERS,
    Bounced: 0,
    Opened: 0,
    Clicked: 0,
  });
  const listed = await cmd('campaigns.get');
  expect(listed.Campaigns.find((c: { CampaignID: number }) => c.CampaignID === campaignId).Progress).toMatchObject({ Delivered: MEMBERS, Sent: MEMBERS });
});

it('answers a costly count from the last one, and recounts it in the background once it is stale', async () => {
  // A bounce report turns one delivered copy into a bounce after the count above.
  const [one] = await camp.h.services.db('messages').where({ campaign_id: campaignId }).orderBy('id').limit(1).pluck('id');
  expect(await camp.h.services.db('deliveries').where({ message_id: one }).update({ status: 'bounced' })).toBe(1);
  // The next read answers at once with the counts it has (and starts a recount if they are over 2 s old).
  expect(await progress()).toMatchObject({ Delivered: MEMBERS, Bounced: 0 });
  await waitFor(
    async () => {
      const p = await progress();
      return p.Delivered === MEMBERS - 1 && p.Bounced === 1 && p.Sent === MEMBERS;
    },
    15_000,
    'the recount to show the bounce',
  );
});

it('counts afresh after campaign.cancel: the cancelled copies show at once', async () => {
  // Two copies not yet sent: scheduled for tomorrow, as a campaign still sending would have them queued.
  const ids = await camp.h.services.db('messages').where({ campaign_id: campaignId }).orderBy('id', 'desc').limit(2).pluck('id');
  await camp.h.services
    .db('deliveries')
    .whereIn('message_id', ids)
    .update({ status: 'scheduled', next_attempt_at: Date.now() + 86_400_000 });
  // Sending under another worker's live lease, as a campaign still sending is: a `sending` row with no lease is one
  // the campaign sweeper (every second here) relaunches, and its worker, finding no member left, completed it before
  // the cancel on a loaded machine (cancel then answered 3, "already finished (completed)").
  await camp.h.services
    .db('campaigns')
    .where({ id: campaignId })
    .update({ status: 'sending', lease_owner: 'elsewhere', lease_until: Date.now() + 600_000 });
  await progress(); // a read (reused counts) just before the cancel
  const cancelled = await cmd('campaign.cancel', { CampaignID: campaignId });
  if (!cancelled.Success) throw new Error(`campaign.cancel: ${JSON.stringify(cancelled)}`);
  expect(cancelled).toMatchObject({ Success: true, CancelledDeliveries: 2 });
  expect(await progress()).toMatchObject({ Cancelled: 2, Delivered: MEMBERS - 3, Bounced: 1, Sent: MEMBERS - 2 });
});
