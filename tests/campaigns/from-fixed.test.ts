/**
 * A campaign's From is fixed when it is launched. A campaign without its own From sends as its list's sender
 * address; the launcher used to work that out again at every claim (after a restart, a hand-on, a resume), so a list
 * whose sender address changed mid-campaign sent the rest from another domain, checked against that domain's
 * suppressions: a member who had unsubscribed from the first domain got the campaign from the second.
 */
import { useCampaignRig } from '../helpers/campaign-rig';
import { addDomain, senderSetup, uniqueDomain } from '../helpers/harness';
import { waitFor } from '../helpers/sink';
import { bulkSubscribers, makeList } from '../lists/fixtures';

// One member a page (LIST_PAGE_BYTES at its minimum), so the quota stops it between pages.
const camp = useCampaignRig({ LIST_PAGE_BYTES: String(64 * 1024) });

it('goes on from the launch-time From when the list sender changes, and keeps that domain’s suppressions', async () => {
  const db = camp.h.services.db;
  const own = await senderSetup(camp.h);
  const call = (command: string, params: Record<string, unknown>) => camp.h.call({ Command: command, SessionID: own.sessionId, ...params });
  const other = uniqueDomain('other');
  const otherId = await addDomain(camp.h, own.sessionId, other);
  await db('sender_domains').where({ id: otherId }).update({ status: 'Enabled' });
  const limit = async (perDay: number) =>
    expect(await camp.h.call({ Command: 'user.update', AdminAPIKey: camp.h.adminKey, UserID: own.userId, LimitEmailSendPerDay: perDay })).toMatchObject({
      Success: true,
    });
  const listId = await makeList(camp.h, { userId: own.userId, sessionId: own.sessionId }, { SenderEmailAddress: `news@${own.domain}` });
  await bulkSubscribers(db, listId, 6, 'm', 'fixed.test');
  const c = await call('campaign.create', { CampaignName: 'Fixed', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' });
  await limit(3);
  expect(await call('campaign.launch', { CampaignID: c.CampaignID })).toMatchObject({ Success: true, Recipients: 6 });
  const status = async () => (await call('campaign.get', { CampaignID: c.CampaignID })).Campaign.Status;
  await waitFor(async () => (await status()) === 'failed', 30000, 'the quota to stop the campaign');

  // Mid-campaign: the list now sends as the other domain, and a member not reached yet unsubscribed from the first.
  expect(await call('list.update', { ListID: listId, SenderEmailAddress: `news@${other}` })).toMatchObject({ Success: true });
  await call('emailgateway.addsuppression', { DomainID: own.domainId, EmailAddress: 'm4@fixed.test' });
  await limit(0);
  expect(await call('campaign.launch', { CampaignID: c.CampaignID })).toMatchObject({ Success: true });
  await waitFor(async () => (await status()) === 'completed', 30000, 'the resumed campaign to complete');

  const got = () => camp.sink.received.filter((m) => m.to[0].endsWith('@fixed.test'));
  await waitFor(() => got().length >= 5, 30000, 'every member but the unsubscribed one');
  await new Promise((r) => setTimeout(r, 500)); // room for a copy to the suppressed member, if one were sent
  expect(
    got()
      .map((m) => m.to[0])
      .sort(),
  ).toEqual(['m0', 'm1', 'm2', 'm3', 'm5'].map((m) => `${m}@fixed.test`));
  for (const m of got()) expect(m.raw.toString().match(/^From: .*$/m)![0]).toContain(`news@${own.domain}`);
}, 90000);
