/**
 * campaign.launch refuses what the send path would refuse for every member (its own checks, src/mail/prepare.ts):
 * a From name that reads as an address, an unverified account, content over SMTP_MAX_MESSAGE_BYTES. Such a campaign
 * stays a draft instead of answering `sending` and failing on its first page.
 */
import { createCampaignWorker, CampaignWorker } from '../../src/campaigns/launcher';
import { waitForCampaign } from '../helpers/campaign-rig';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { senderSetup } from '../helpers/harness';
import { as, bulkSubscribers, makeList, Owner } from '../lists/fixtures';

// The launched campaign is waited for up to 30 s, jest's whole default for a test.
jest.setTimeout(90_000);

let rig: RelayRig;
let campaigns: CampaignWorker;
let o: Owner;
beforeAll(async () => {
  rig = await startRelayRig({ SMTP_MAX_MESSAGE_BYTES: String(64 * 1024) });
  campaigns = createCampaignWorker(rig.h.services);
  o = { userId: rig.s.userId, sessionId: rig.s.sessionId };
});
afterAll(async () => {
  await campaigns.stop();
  await rig.close();
});

async function draft(owner: Owner, domain: string, extra: Record<string, unknown>): Promise<number> {
  const listId = await makeList(rig.h, owner, { SenderEmailAddress: `news@${domain}` });
  await bulkSubscribers(rig.h.services.db, listId, 3, `m${listId}-`, 'checks.test');
  const r = await as(rig.h, owner)('campaign.create', { CampaignName: 'C', Subject: 'Hi', ListID: listId, PlainContent: 'Hello', ...extra });
  expect(r.Success).toBe(true);
  return r.CampaignID;
}

async function expectRefused(owner: Owner, c: number, code: number, text: RegExp): Promise<void> {
  const r = await as(rig.h, owner)('campaign.launch', { CampaignID: c });
  expect(r).toMatchObject({ Success: false, ErrorCode: code });
  expect(r.ErrorText).toMatch(text);
  expect((await as(rig.h, owner)('campaign.get', { CampaignID: c })).Campaign).toMatchObject({ Status: 'draft', Progress: { Queued: 0 } });
}

it('answers 5 for a From name that reads as an address', async () => {
  await expectRefused(o, await draft(o, rig.s.domain, { FromName: 'ceo@bank.test' }), 5, /From name/);
});

it('answers 8 for content larger than SMTP_MAX_MESSAGE_BYTES', async () => {
  await expectRefused(o, await draft(o, rig.s.domain, { HTMLContent: `<p>${'x'.repeat(100 * 1024)}</p>` }), 8, /SMTP_MAX_MESSAGE_BYTES/);
});

it('answers 7 for an account that is not verified', async () => {
  const own = await senderSetup(rig.h);
  const owner: Owner = { userId: own.userId, sessionId: own.sessionId };
  const c = await draft(owner, own.domain, {});
  expect(await rig.h.call({ Command: 'user.update', AdminAPIKey: rig.h.adminKey, UserID: own.userId, Verified: 'No' })).toMatchObject({ Success: true });
  await expectRefused(owner, c, 7, /not verified/);
});

it('launches a campaign the send path takes, which completes', async () => {
  const c = await draft(o, rig.s.domain, { FromName: 'The News', HTMLContent: `<p>${'x'.repeat(10 * 1024)}</p>` });
  expect(await as(rig.h, o)('campaign.launch', { CampaignID: c })).toMatchObject({ Success: true, Status: 'sending', Recipients: 3 });
  await waitForCampaign(as(rig.h, o), c, 'completed', 30000, 'the campaign to complete');
});
