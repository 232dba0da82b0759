/**
 * A sending campaign that waits for a free worker (here: no worker takes jobs) gets one sweep job, not one more per
 * sweep: the sweep names its job for the campaign and the lease period, so a second add is a no-op. A worker that
 * takes jobs again then sends the campaign once to every member.
 */
import { CAMPAIGN_QUEUE, createCampaignWorker, CampaignWorker } from '../../src/campaigns/launcher';
import { waitForCampaign } from '../helpers/campaign-rig';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';
import { as, bulkSubscribers, makeList, Owner } from '../lists/fixtures';

// The campaign's end and its members are waited for up to 30 s each, over jest's default 30 s a test.
jest.setTimeout(90_000);

let rig: RelayRig;
const workers: CampaignWorker[] = [];
beforeAll(async () => {
  rig = await startRelayRig();
});
afterAll(async () => {
  for (const w of workers) await w.stop();
  await rig.close();
});

it('adds one job for a waiting campaign however many sweeps run, and the campaign then goes out once', async () => {
  const idle = createCampaignWorker(rig.h.services);
  workers.push(idle);
  await idle.stop(); // takes no jobs: the campaign waits, as behind other accounts' long campaigns
  const o: Owner = { userId: rig.s.userId, sessionId: rig.s.sessionId };
  const listId = await makeList(rig.h, o, { SenderEmailAddress: `news@${rig.s.domain}` });
  await bulkSubscribers(rig.h.services.db, listId, 5, 'w', 'sweep.test');
  const c = (await as(rig.h, o)('campaign.create', { CampaignName: 'Waits', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
  expect(await as(rig.h, o)('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Status: 'sending' });

  const queue = rig.h.services.queues.queue(CAMPAIGN_QUEUE);
  const launched = await queue.waiting();
  for (let i = 0; i < 6; i++) expect(await idle.sweep()).toBe(1);
  // One sweep job (two if a lease period ended between the sweeps), where each sweep added one.
  expect(await queue.waiting()).toBeLessThanOrEqual(launched + 2);

  workers.push(createCampaignWorker(rig.h.services));
  await waitForCampaign(as(rig.h, o), c, 'completed', 30000, 'the campaign to complete');
  await waitFor(() => rig.sink.received.length >= 5, 30000, 'every member');
  expect(rig.sink.received.map((m) => m.to[0]).sort()).toEqual(['w0', 'w1', 'w2', 'w3', 'w4'].map((w) => `${w}@sweep.test`));
});
