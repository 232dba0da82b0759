/**
 * An account key limited to some sender domains reaches only their campaigns through the platform door: a draft
 * whose From is on another domain of the account is not listed, not shown and cannot be cancelled or launched (404).
 */
import { addDomain, Harness, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

it("a domain-limited account key sees, counts, launches and cancels only its domains' campaigns", async () => {
  const s = await senderSetup(h);
  const second = uniqueDomain('campaigns');
  const secondId = await addDomain(h, s.sessionId, second);
  await h.services.db('sender_domains').where({ id: secondId }).update({ status: 'Enabled' });
  const draft = async (from: string) => {
    const r = await h.call({ Command: 'campaign.create', SessionID: s.sessionId, CampaignName: from, Subject: 'secret plan', FromEmail: from });
    expect(r.CampaignID).toEqual(expect.any(Number));
    return r.CampaignID as number;
  };
  const mine = await draft(`news@${s.domain}`);
  const theirs = await draft(`news@${second}`);
  const made = await h.call({ Command: 'user.apikey.create', SessionID: s.sessionId, Note: 'limited', KeyType: 'account', Domains: s.domain });
  const key: string = made.APIKey.APIKey;
  const as = (method: string, path: string, body?: unknown) => h.request(method, path, { headers: { Authorization: `Bearer ${key}` }, body });

  const list = await as('GET', '/api/v1/campaigns');
  expect(list.status).toBe(200);
  expect(list.body.campaigns.map((c: { id: string }) => Number(c.id))).toEqual([mine]);
  expect(list.body.total).toBe(1);
  expect((await as('GET', `/api/v1/campaigns/${mine}`)).status).toBe(200);
  expect((await as('GET', `/api/v1/campaigns/${theirs}`)).status).toBe(404);
  expect((await as('POST', `/api/v1/campaigns/${theirs}/cancel`)).status).toBe(404);
  // Launch answers as get does: another domain's draft is not found (it answered "no list", showing it exists).
  const notFound = await as('GET', `/api/v1/campaigns/${theirs}`);
  const launch = await as('POST', `/api/v1/campaigns/${theirs}/launch`);
  expect([launch.status, launch.body]).toEqual([404, notFound.body]);
  const own = await as('POST', `/api/v1/campaigns/${mine}/launch`);
  expect([own.status, own.body]).not.toEqual([404, notFound.body]); // its own draft is found (and lacks a list)
  expect(await h.services.db('campaigns').where({ id: theirs }).first('status')).toEqual({ status: 'draft' });
  // The account overview (GET /api/v1/stats) counts what the list shows.
  const stats = await as('GET', '/api/v1/stats');
  expect([stats.status, stats.body.campaigns]).toEqual([200, { total: 1, sending: 0, completed: 0 }]);
  // The session (the whole account) still sees both.
  expect((await h.call({ Command: 'campaigns.get', SessionID: s.sessionId })).TotalCampaigns).toBe(2);
  expect((await h.call({ Command: 'account.overview', SessionID: s.sessionId })).Campaigns).toEqual({ Total: 2, Sending: 0, Completed: 0 });
});
