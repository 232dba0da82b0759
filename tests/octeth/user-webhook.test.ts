/**
 * Upstream's inbound list webhooks (`user.webhook.*`, /api/v1/user.webhook*): CRUD over HTTP with a user API key,
 * and the webhook itself called at /system/webhook/<HashedID> as an outside system would.
 */
import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function owner() {
  const u = await createUser(h);
  const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'hooks' })).APIKey.APIKey as string;
  const list = async (name: string) => (await h.call({ Command: 'list.create', SessionID: u.sessionId, SubscriberListName: name })).ListID as number;
  return { ...u, key, list };
}

async function member(listId: number, email: string) {
  return h.services.db('subscribers').where({ list_id: listId, email }).first('id', 'status', 'source');
}

it('creates, lists, gets, updates (PUT and PATCH) and deletes a webhook; the HashedID stays', async () => {
  const o = await owner();
  const listId = await o.list('Newsletter');
  const other = await o.list('Other');
  const created = await h.request('POST', '/api/v1/user.webhook', {
    body: { Command: 'user.webhook.create', APIKey: o.key, Name: 'New Subscriber Notifier', RelListID: listId, Event: 'Subscription' },
  });
  expect(created.status).toBe(200);
  expect(created.body).toMatchObject({ Success: true, WebhookID: expect.any(Number) });
  const w = created.body.Webhook;
  expect(w).toEqual({
    WebhookID: String(created.body.WebhookID),
    RelUserID: String(o.userId),
    RelListID: String(listId),
    Name: 'New Subscriber Notifier',
    Event: 'Subscription',
    HashedID: expect.stringMatching(/^([0-9a-f]{4}-){7}[0-9a-f]{4}$/),
    Options: { UnsubscribeAll: false },
  });
  const id = created.body.WebhookID;
  const listed = await h.request('GET', `/api/v1/user.webhooks?APIKey=${o.key}`);
  expect(listed.body).toEqual({ Success: true, Webhooks: [{ ...w, RelListName: 'Newsletter' }] });
  expect((await h.request('GET', `/api/v1/user.webhook?APIKey=${o.key}&WebhookID=${id}`)).body).toEqual({ Success: true, Webhook: w });

  const put = await h.request('PUT', '/api/v1/user.webhook', {
    body: { APIKey: o.key, WebhookID: id, Name: 'Renamed', RelListID: other, Event: 'Unsubscription', UnsubscribeAll: true },
  });
  expect(put.body.Webhook).toMatchObject({
    Name: 'Renamed',
    RelListID: String(other),
    RelListName: 'Other',
    Event: 'Unsubscription',
    HashedID: w.HashedID,
    Options: { UnsubscribeAll: true },
  });
  const patch = await h.request('PATCH', '/api/v1/user.webhook', { body: { APIKey: o.key, WebhookID: id, Event: 'subscription' } });
  expect(patch.body.Webhook).toMatchObject({ Name: 'Renamed', Event: 'Subscription', HashedID: w.HashedID });

  expect((await h.request('DELETE', `/api/v1/user.webhook?APIKey=${o.key}&WebhookID=${id}`)).body).toEqual({ Success: true });
  expect((await h.request('GET', `/api/v1/user.webhook?APIKey=${o.key}&WebhookID=${id}`)).body).toEqual({
    Errors: [{ Code: 2, Message: 'Webhook not found' }],
  });
  expect((await h.request('POST', `/system/webhook/${w.HashedID}`, { body: { EmailAddress: 'late@example.org' } })).status).toBe(404);
});

it("answers the upstream codes and hides other users' webhooks and lists", async () => {
  const o = await owner();
  const stranger = await owner();
  const theirList = await stranger.list('Theirs');
  const post = (body: Record<string, unknown>) => h.request('POST', '/api/v1/user.webhook', { body: { APIKey: o.key, ...body } });
  const codes = async (body: Record<string, unknown>) => (await post(body)).body.Errors.map((e: { Code: number }) => e.Code);
  expect(await codes({})).toEqual([1, 2, 3]);
  expect(await codes({ Name: 'x', RelListID: theirList, Event: 'Subscription' })).toEqual([5]);
  expect(await codes({ Name: 'x', RelListID: await o.list('Mine'), Event: 'Bounce' })).toEqual([4]);
  const theirs = (await h.request('POST', '/api/v1/user.webhook', { body: { APIKey: stranger.key, Name: 't', RelListID: theirList, Event: 'Subscription' } }))
    .body.WebhookID;
  expect((await h.request('GET', `/api/v1/user.webhook?APIKey=${o.key}&WebhookID=${theirs}`)).body.Errors[0].Code).toBe(2);
  expect((await h.request('PATCH', '/api/v1/user.webhook', { body: { APIKey: o.key, WebhookID: theirs, Name: 'mine now' } })).body.Errors[0].Code).toBe(6);
  expect((await h.request('GET', '/api/v1/user.webhooks')).body).toEqual({ Errors: [{ Code: 0, Message: 'Authentication failed' }] });
});

it('a Subscription webhook subscribes the address (again after an unsubscribe) with its custom fields, and counts each call', async () => {
  const o = await owner();
  const listId = await o.list('Signups');
  const field = await h.call({ Command: 'customfield.create', SessionID: o.sessionId, SubscriberListID: listId, FieldName: 'City' });
  const hook = (await h.request('POST', '/api/v1/user.webhook', { body: { APIKey: o.key, Name: 'signup', RelListID: listId, Event: 'Subscription' } })).body;
  const url = `/system/webhook/${hook.Webhook.HashedID}`;
  const first = await h.request('POST', url, { form: { EmailAddress: 'Ann@Example.org', [`CustomField${field.CustomFieldID}`]: 'Oslo' } });
  expect(first.body).toMatchObject({ Success: true, ErrorCode: 0, Event: 'Subscription', EmailAddress: 'ann@example.org', SubscriberID: expect.any(Number) });
  expect(await member(listId, 'ann@example.org')).toMatchObject({ status: 'Subscribed', source: 'Webhook' });
  const value = await h.services.db('subscriber_values').where({ subscriber_id: first.body.SubscriberID, field_id: field.CustomFieldID }).first('value');
  expect(value).toEqual({ value: 'Oslo' });
  await h.services.db('subscribers').where({ list_id: listId }).update({ status: 'Unsubscribed' });
  const again = await h.request('GET', `${url}?EmailAddress=ann@example.org`);
  expect(again.body.SubscriberID).toBe(first.body.SubscriberID);
  expect((await member(listId, 'ann@example.org')).status).toBe('Subscribed');
  const bad = await h.request('POST', url, { body: { EmailAddress: 'not-an-address' } });
  expect(bad.body).toMatchObject({ Success: false, ErrorCode: 3 });
  expect((await h.request('POST', '/system/webhook/0000-0000', { body: { EmailAddress: 'x@example.org' } })).body).toMatchObject({
    Success: false,
    ErrorCode: 1,
  });
  // A disabled account's Subscription webhook adds nobody; enabled again, it does.
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: o.userId, AccountStatus: 'Disabled' });
  const off = await h.request('POST', url, { body: { EmailAddress: 'off@example.org' } });
  expect({ status: off.status, body: off.body }).toMatchObject({ status: 404, body: { Success: false, ErrorCode: 1 } });
  expect(await member(listId, 'off@example.org')).toBeUndefined();
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: o.userId, AccountStatus: 'Enabled' });

  const day = new Date().toISOString().slice(0, 10);
  const stats = await h.request('GET', `/api/v1/user.webhook.stats?APIKey=${o.key}&WebhookID=${hook.WebhookID}&Days=7`);
  expect(stats.body).toEqual({
    Success: true,
    WebhookID: hook.WebhookID,
    Days: 7,
    Stats: {
      [day]: {
        RelWebhookID: String(hook.WebhookID),
        RelUserID: String(o.userId),
        Period: day,
        ReceivedRequests: '4',
        FailedRequests: '2',
        SuccessfulRequests: '2',
      },
    },
  });
  const listed = await h.request('GET', `/api/v1/user.webhooks?APIKey=${o.key}&IncludeStats=true`);
  expect(listed.body.Webhooks[0].ReceivedRequestsStats).toEqual({ [String(Date.parse(`${day}T00:00:00Z`) / 1000)]: 4 });
});

it('a Subscription webhook on a Double opt-in list adds members as Opt-In Pending, as subscriber.subscribe does', async () => {
  const o = await owner();
  const listId = (await h.call({ Command: 'list.create', SessionID: o.sessionId, SubscriberListName: 'Confirmed', OptInMode: 'Double' })).ListID as number;
  const hook = (await h.request('POST', '/api/v1/user.webhook', { body: { APIKey: o.key, Name: 'form', RelListID: listId, Event: 'Subscription' } })).body;
  const url = `/system/webhook/${hook.Webhook.HashedID}`;
  expect((await h.request('POST', url, { body: { EmailAddress: 'new@example.org' } })).body).toMatchObject({ Success: true });
  expect(await member(listId, 'new@example.org')).toMatchObject({ status: 'Opt-In Pending', source: 'Webhook' });
  // An unsubscribed member is pending again, not confirmed by the call; a confirmed one stays confirmed.
  await h.services.db('subscribers').where({ list_id: listId }).update({ status: 'Unsubscribed', unsubscription_ip: '192.0.2.9' });
  expect((await h.request('POST', url, { body: { EmailAddress: 'new@example.org' } })).body).toMatchObject({ Success: true });
  expect(await h.services.db('subscribers').where({ list_id: listId, email: 'new@example.org' }).first('status', 'unsubscription_ip')).toEqual({
    status: 'Opt-In Pending',
    unsubscription_ip: '',
  });
  await h.services.db('subscribers').where({ list_id: listId }).update({ status: 'Subscribed' });
  expect((await h.request('POST', url, { body: { EmailAddress: 'new@example.org' } })).body).toMatchObject({ Success: true });
  expect((await member(listId, 'new@example.org')).status).toBe('Subscribed');
});

it("an Unsubscription webhook unsubscribes from its list, or from every list of the owner with UnsubscribeAll, never another user's", async () => {
  const o = await owner();
  const [a, b] = [await o.list('A'), await o.list('B')];
  const stranger = await owner();
  const s = await stranger.list('S');
  for (const l of [a, b])
    await h.call({
      Command: 'subscriber.create',
      SessionID: o.sessionId,
      ListID: l,
      EmailAddress: 'bob@example.org',
      SubscriptionDate: '2026-01-01',
      SubscriptionIP: '192.0.2.1',
    });
  await h.call({
    Command: 'subscriber.create',
    SessionID: stranger.sessionId,
    ListID: s,
    EmailAddress: 'bob@example.org',
    SubscriptionDate: '2026-01-01',
    SubscriptionIP: '192.0.2.1',
  });
  const one = (await h.request('POST', '/api/v1/user.webhook', { body: { APIKey: o.key, Name: 'one', RelListID: a, Event: 'Unsubscription' } })).body.Webhook
    .HashedID;
  await h.request('POST', `/system/webhook/${one}`, { body: { EmailAddress: 'bob@example.org' } });
  expect([(await member(a, 'bob@example.org')).status, (await member(b, 'bob@example.org')).status]).toEqual(['Unsubscribed', 'Subscribed']);
  const all = (
    await h.request('POST', '/api/v1/user.webhook', { body: { APIKey: o.key, Name: 'all', RelListID: a, Event: 'Unsubscription', UnsubscribeAll: true } })
  ).body.Webhook.HashedID;
  await h.request('POST', `/system/webhook/${all}`, { body: { EmailAddress: 'bob@example.org' } });
  expect((await member(b, 'bob@example.org')).status).toBe('Unsubscribed');
  expect((await member(s, 'bob@example.org')).status).toBe('Subscribed');
});

it('keeps the HashedID encrypted at rest', async () => {
  const o = await owner();
  const hook = (await h.request('POST', '/api/v1/user.webhook', { body: { APIKey: o.key, Name: 'n', RelListID: await o.list('L'), Event: 'Subscription' } }))
    .body;
  const row = await h.services.db('list_webhooks').where({ id: hook.WebhookID }).first();
  expect(JSON.stringify(row)).not.toContain(hook.Webhook.HashedID);
});
