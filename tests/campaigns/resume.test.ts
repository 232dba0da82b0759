/**
 * A failed campaign is launched again to resume it: through the platform door, a campaign stopped by its account's
 * daily quota half way through goes on from its cursor once the quota is raised, and each member gets it once. One
 * member a page (LIST_PAGE_BYTES at its minimum), so the quota stops it between pages.
 */
import { useCampaignRig } from '../helpers/campaign-rig';
import { accountKey, senderSetup } from '../helpers/harness';
import { waitFor } from '../helpers/sink';
import { bulkSubscribers, makeList } from '../lists/fixtures';

const camp = useCampaignRig({ LIST_PAGE_BYTES: String(64 * 1024) });
const MEMBERS = 12;
const QUOTA = 5;

it('resumes a failed campaign from where it stopped: the members it reached get it once, the rest get it too', async () => {
  const db = camp.h.services.db;
  const own = await senderSetup(camp.h);
  const key = await accountKey(camp.h, own.sessionId);
  const api = (method: string, path: string, body?: unknown) => camp.h.request(method, path, { headers: { Authorization: `Bearer ${key}` }, body });
  const limit = async (perDay: number) =>
    expect(await camp.h.call({ Command: 'user.update', AdminAPIKey: camp.h.adminKey, UserID: own.userId, LimitEmailSendPerDay: perDay })).toMatchObject({
      Success: true,
    });
  const listId = await makeList(camp.h, { userId: own.userId, sessionId: own.sessionId }, { SenderEmailAddress: `news@${own.domain}` });
  await bulkSubscribers(db, listId, MEMBERS, 'm', 'resume.test');
  const created = await api('POST', '/api/v1/campaigns', {
    name: 'Resume',
    subject: 'Hi',
    listId: String(listId),
    content: '<p>Hi</p>',
  });
  expect(created.status).toBe(200);
  const c = created.body.id as string;
  const get = async () => (await api('GET', `/api/v1/campaigns/${c}`)).body;
  const launch = async () => api('POST', `/api/v1/campaigns/${c}/launch`);

  await limit(QUOTA);
  expect((await launch()).body).toEqual({ success: true, status: 'sending' });
  await waitFor(async () => (await get()).status !== 'sending', 30000, 'the quota to stop the campaign');
  expect(await get()).toMatchObject({ status: 'failed', recipients: MEMBERS, queued: QUOTA, completedAt: expect.any(String) });
  const failed = await camp.h.call({ Command: 'campaign.get', SessionID: own.sessionId, CampaignID: Number(c) });
  expect(failed.Campaign.Error).toMatch(/quota/);

  // While the quota has no room, a resume is refused at once (code 9), and the campaign stays failed.
  const early = await camp.h.call({ Command: 'campaign.launch', SessionID: own.sessionId, CampaignID: Number(c) });
  expect(early).toMatchObject({ Success: false, ErrorCode: 9 });
  expect(JSON.stringify(early)).toMatch(/quota is used up until \d{4}-/);
  const earlyPlatform = await launch();
  expect(earlyPlatform.status).toBeGreaterThanOrEqual(400);
  expect(JSON.stringify(earlyPlatform.body)).toMatch(/quota/);
  expect(await get()).toMatchObject({ status: 'failed', queued: QUOTA });

  await limit(0); // unlimited
  const resumed = await launch();
  expect(resumed.status).toBe(200);
  expect(resumed.body).toEqual({ success: true, status: 'sending' });
  await waitFor(async () => (await get()).status === 'completed', 30000, 'the resumed campaign to complete');
  expect(await get()).toMatchObject({ status: 'completed', recipients: MEMBERS, queued: MEMBERS, skipped: 0 });
  expect((await camp.h.call({ Command: 'campaign.get', SessionID: own.sessionId, CampaignID: Number(c) })).Campaign.Error).toBeNull();

  const everyone = Array.from({ length: MEMBERS }, (_, i) => `m${i}@resume.test`).sort();
  const got = () => camp.sink.received.filter((m) => m.to[0].endsWith('@resume.test')).map((m) => m.to[0]);
  await waitFor(() => got().length >= MEMBERS, 30000, 'every member');
  await new Promise((r) => setTimeout(r, 500)); // room for a second copy, if any were sent
  expect(got().sort()).toEqual(everyone);
  // Finished campaigns stay finished: a completed one is not launched again.
  expect(await camp.h.call({ Command: 'campaign.launch', SessionID: own.sessionId, CampaignID: Number(c) })).toMatchObject({ Success: false, ErrorCode: 3 });
}, 90000);
