/**
 * A campaign stopped while a page is in flight, through /api.php: a cancel answered while the page was being
 * prepared leaves nothing of that page to deliver. Held transactions (tests/helpers/hold-transactions.ts) put the
 * door's call between the page's preparation and its commit, so no timing is involved.
 */
import { CAMPAIGN_QUEUE, createCampaignWorker } from '../../src/campaigns/launcher';
import { DependencyTimeout } from '../../src/outage';
import { holdTransactions } from '../helpers/hold-transactions';
import { useCampaignRig, waitForCampaign } from '../helpers/campaign-rig';
import { waitFor } from '../helpers/sink';
import { bulkSubscribers, makeList } from '../lists/fixtures';

// Each test waits up to 15–30 s on top of its own steps, up to jest's default 30 s a test.
jest.setTimeout(90_000);

const camp = useCampaignRig();
const cmd = camp.cmd;

async function draftTo(members: number, prefix: string): Promise<number> {
  const listId = await makeList(camp.h, camp.o, { SenderEmailAddress: `news@${camp.s.domain}` });
  await bulkSubscribers(camp.h.services.db, listId, members, prefix, 'campaign.test');
  return (await cmd('campaign.create', { CampaignName: prefix, Subject: 'Hi', ListID: listId, PlainContent: 'Hello' })).CampaignID;
}

it('cancel answered while a page is prepared: that page is never committed, so nothing of it is delivered', async () => {
  const db = camp.h.services.db;
  const c = await draftTo(3, 'inflight');
  let armed = true;
  // Holds the campaign's first page after it was prepared, just before its transaction.
  const held = holdTransactions(camp.h.services.store, async () => armed);
  try {
    expect(await cmd('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Status: 'sending', Recipients: 3 });
    await held.reached;
    armed = false;
    expect(await cmd('campaign.cancel', { CampaignID: c })).toEqual({
      Success: true,
      ErrorCode: 0,
      CampaignID: c,
      Status: 'cancelled',
      CancelledDeliveries: 0,
    });
    held.open();
    // The worker's run ends (its lease released) once it has seen the cancel.
    await waitFor(async () => (await db('campaigns').where({ id: c }).first()).lease_owner === null, 15000, 'the worker to let go');
  } finally {
    held.restore();
  }
  const [{ n }] = await db('messages').where({ campaign_id: c }).count({ n: '*' });
  expect(Number(n)).toBe(0);
  expect((await cmd('campaign.get', { CampaignID: c })).Campaign).toMatchObject({ Status: 'cancelled', Progress: { Queued: 0 } });
});

it('launch answers sending when the queue cannot take the job (Redis away): the sweeper starts the campaign', async () => {
  const c = await draftTo(3, 'noqueue');
  const queue = camp.h.services.queues.queue(CAMPAIGN_QUEUE);
  // The add as BullMQ's deadline fails it when Redis does not answer; an own property over the binding's method.
  queue.add = () => Promise.reject(new DependencyTimeout('Redis (queue add)', 2000));
  let launched: any;
  try {
    launched = await cmd('campaign.launch', { CampaignID: c });
  } finally {
    delete (queue as { add?: unknown }).add;
  }
  expect(launched).toEqual({ Success: true, ErrorCode: 0, CampaignID: c, Status: 'sending', Recipients: 3 });
  // Launched, so a retry is told so; the sweep (Redis back) names it and it completes.
  expect(await cmd('campaign.launch', { CampaignID: c })).toMatchObject({ Success: false, ErrorCode: 3 });
  await camp.campaigns.sweep();
  await waitForCampaign(cmd, c, 'completed', 15000, 'the campaign to complete');
  expect((await cmd('campaign.get', { CampaignID: c })).Campaign.Progress.Queued).toBe(3);
});

it("a worker's stop() ends a running campaign after its current page; another worker resumes it and each member gets it once", async () => {
  const db = camp.h.services.db;
  const members = 600; // three pages of 250
  const c = await draftTo(members, 'handoff');
  const count = async () => Number((await db('messages').where({ campaign_id: c }).count({ n: '*' }))[0].n);
  let armed = true;
  // Once the first page is committed, every batch transaction is held (a delivery's settle too): the second page
  // cannot commit before stop() is called.
  const held = holdTransactions(camp.h.services.store, async () => armed && (await count()) > 0);
  try {
    await cmd('campaign.launch', { CampaignID: c });
    await held.reached;
    const stopped = camp.campaigns.stop();
    armed = false;
    held.open();
    await stopped;
  } finally {
    held.restore();
  }
  // stop() waited for the page in flight at most: the campaign is still sending, its lease released.
  expect(await db('campaigns').where({ id: c }).first()).toMatchObject({ status: 'sending', lease_owner: null, lease_until: null });
  expect([250, 500]).toContain(await count());
  camp.campaigns = createCampaignWorker(camp.h.services); // the next worker: takes the handed-on job
  await waitForCampaign(cmd, c, 'completed', 30000, 'the resumed campaign');
  const subs = await db('messages').where({ campaign_id: c }).pluck('subscriber_id');
  expect(new Set(subs.map(Number)).size).toBe(members);
  expect(subs).toHaveLength(members);
  expect((await cmd('campaign.get', { CampaignID: c })).Campaign.Progress.Queued).toBe(members);
});
