/** Upstream's v1 routes for user API keys (§2.4: POST user.apikey, POST user.apikey.delete, GET user.apikeys) and POST subscriber.create. */
import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

it('creates, lists and deletes a user API key over the v1 routes', async () => {
  const u = await createUser(h);
  const created = await h.request('POST', '/api/v1/user.apikey', { body: { SessionID: u.sessionId, Note: 'ci' } });
  expect(created.status).toBe(200);
  expect(created.body).toMatchObject({
    Success: true,
    APIKeyID: expect.any(Number),
    APIKey: { APIKey: expect.stringMatching(/^[0-9A-F]{4}(-[0-9A-F]{4}){7}$/i), Note: 'ci' },
  });
  const key = created.body.APIKey.APIKey;
  const listed = await h.request('GET', `/api/v1/user.apikeys?APIKey=${key}`);
  expect(listed.body.Success).toBe(true);
  expect(listed.body.APIKeys.map((k: { APIKeyID: number }) => k.APIKeyID)).toContain(created.body.APIKeyID);
  expect((await h.request('POST', '/api/v1/user.apikey', { body: { SessionID: u.sessionId } })).body).toEqual({
    Errors: [{ Code: 1, Message: 'Missing required parameter (Note)' }],
  });
  expect((await h.request('POST', '/api/v1/user.apikey.delete', { body: { SessionID: u.sessionId, APIKeyID: created.body.APIKeyID } })).body).toEqual({
    Success: true,
  });
  expect((await h.request('GET', `/api/v1/user.apikeys?APIKey=${key}`)).body).toEqual({ Errors: [{ Code: 0, Message: 'Authentication failed' }] });
});

it("adds a subscriber over POST /api/v1/subscriber.create with upstream's success and error shapes", async () => {
  const u = await createUser(h);
  const listId = (await h.call({ Command: 'list.create', SessionID: u.sessionId, SubscriberListName: 'V1' })).ListID;
  const ok = await h.request('POST', '/api/v1/subscriber.create', {
    body: {
      SessionID: u.sessionId,
      ListID: listId,
      EmailAddress: 'email@example.com',
      Status: 'Subscribed',
      SubscriptionDate: '2023-01-01',
      SubscriptionIP: '192.168.1.1',
    },
  });
  expect(ok.status).toBe(200);
  expect(ok.body).toMatchObject({
    Success: true,
    ErrorCode: 0,
    SubscriberInformation: { SubscriberID: expect.any(Number), EmailAddress: 'email@example.com' },
  });
  const bad = await h.request('POST', '/api/v1/subscriber.create', { body: { SessionID: u.sessionId, ListID: listId } });
  expect(bad.status).toBe(200);
  expect(bad.body).toEqual({ Errors: [{ Code: 2, Message: 'Missing EmailAddress parameter' }] });
});

it('limits the user API key routes as every user-area v1 route: 100 requests a minute per credential, then 429', async () => {
  const u = await createUser(h);
  // Ten at a time: one after another took 9 s at load 5 and over 30 s in a loaded full run, and all 100 must fall in
  // one minute's window.
  const list = () => h.request('GET', `/api/v1/user.apikeys?SessionID=${u.sessionId}`).then((r) => r.status);
  for (let i = 0; i < 10; i++) expect(await Promise.all(Array.from({ length: 10 }, list))).toEqual(Array(10).fill(200));
  const refused = await h.request('GET', `/api/v1/user.apikeys?SessionID=${u.sessionId}`);
  expect(refused.status).toBe(429);
  expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(refused.body.Errors[0]).toMatchObject({ Code: 429 });
});
