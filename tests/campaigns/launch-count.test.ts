/**
 * campaign.launch counts its recipients a page of members at a time (CAMPAIGN_PROGRESS_PAGE per statement): one
 * count over a list of a million members with its suppression probes ran past DB_QUERY_TIMEOUT_MS on MariaDB, so
 * such a list could never be launched (503 on every try). The paged count must still be exact: members that are
 * not Subscribed, or suppressed on the domain or for the account, on either side of a page's edge, do not count.
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { as, bulkSubscribers, makeList, Owner } from '../lists/fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ CAMPAIGN_PROGRESS_PAGE: '3' });
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

it('counts the members it will send to, page by page, exactly', async () => {
  const s = await senderSetup(h);
  const o: Owner = { userId: s.userId, sessionId: s.sessionId };
  const listId = await makeList(h, o, { SenderEmailAddress: `news@${s.domain}` });
  await bulkSubscribers(h.services.db, listId, 11, 'm', 'count.test');
  const ids = (await h.services.db('subscribers').where({ list_id: listId }).orderBy('id').pluck('id')).map(Number);
  // Ids 1..11 in pages of 3: the 3rd and 4th members sit on the first edge, the 9th at the end of the third page.
  await h.services.db('subscribers').where({ id: ids[2] }).update({ status: 'Unsubscribed' });
  await h.services.db('subscribers').where({ id: ids[8] }).update({ status: 'Unsubscribed' });
  await h.call({ Command: 'emailgateway.addsuppression', SessionID: s.sessionId, DomainID: s.domainId, EmailAddress: 'm3@count.test' });
  expect(await as(h, o)('suppression.import', { EmailAddresses: ['m10@count.test'] })).toMatchObject({ Success: true });
  const c = await as(h, o)('campaign.create', { CampaignName: 'C', Subject: 'Hi', ListID: listId, PlainContent: 'Hello' });
  // The counting statements, as the database sees them: one a page of 3 (11 members: 4), not one for the list.
  const counts: string[] = [];
  const seen = (q: { sql: string }) => /count\(\*\)/i.test(q.sql) && /subscribers/.test(q.sql) && counts.push(q.sql);
  h.services.db.on('query', seen);
  const launched = await as(h, o)('campaign.launch', { CampaignID: c.CampaignID }).finally(() => h.services.db.removeListener('query', seen));
  expect(launched).toMatchObject({ Success: true, Recipients: 11 - 4 });
  expect(counts).toHaveLength(4);
});
