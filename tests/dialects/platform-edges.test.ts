/**
 * The platform dialect beyond the spec's examples, through the real HTTP door: `to` is one string however many
 * recipients (the spec's type); a bad field on the user-auth routes (contacts,
 * campaigns) is 400 invalid_request, not the key errors the sender door's codes 1/2 mean; a disabled account gets
 * 403 account_inactive on every route, whichever kind of command serves it.
 */
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { listen } from './conformance';

let h: Harness;
let gw: { base: string; close(): Promise<void> };

beforeAll(async () => {
  h = await startHarness();
  gw = await listen(h.app);
});
afterAll(async () => {
  await gw.close();
  await h.close();
});

async function accountKey(sessionId: string): Promise<string> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'platform', KeyType: 'account' });
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.APIKey.APIKey;
}

async function call(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${gw.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json() };
}

describe('validation errors on user-auth routes', () => {
  it('answers 400 invalid_request for bad contact and campaign fields, not 401/403', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(s.sessionId);
    const list = await h.call({ Command: 'list.create', SessionID: s.sessionId, SubscriberListName: 'L', SenderEmailAddress: `news@${s.domain}` });
    const listId = String(list.ListID);
    const bad = (error: string) => ({ status: 400, body: { error, code: 'invalid_request' } });

    expect(await call(key, 'POST', '/api/v1/contacts', { email: 'not-an-email', listId })).toEqual(bad('Invalid email address'));
    expect(await call(key, 'POST', '/api/v1/contacts', { listId })).toEqual(bad('Missing email'));
    // The spec's body with its placeholder listId, and again with no name.
    const campaign = { name: 'March Newsletter', subject: 'News!', listId: '...', content: '<h1>Hello</h1>' };
    expect(await call(key, 'POST', '/api/v1/campaigns', campaign)).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    expect(await call(key, 'POST', '/api/v1/campaigns', { ...campaign, name: undefined, listId })).toEqual(
      bad('Missing or invalid CampaignName (one to 255 characters)'),
    );
    expect(await call(key, 'GET', '/api/v1/campaigns?limit=500')).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    expect(await call(key, 'GET', '/api/v1/campaigns?status=scheduled')).toEqual(bad('Invalid CampaignStatus'));
    // A made-up key is still refused as a key.
    expect(await call('sk_live_made_up', 'POST', '/api/v1/contacts', { listId })).toEqual({
      status: 401,
      body: { error: 'Invalid API key', code: 'unauthorized' },
    });
  });
});

describe('filters and pages a route cannot read', () => {
  it('refuses a repeated or bracketed filter instead of dropping it, and a page past any offset instead of a 500', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(s.sessionId);
    const mk = async (name: string) =>
      String((await h.call({ Command: 'list.create', SessionID: s.sessionId, SubscriberListName: name, SenderEmailAddress: `news@${s.domain}` })).ListID);
    const [a, b] = [await mk('A'), await mk('B')];
    expect((await call(key, 'POST', '/api/v1/contacts', { email: 'only-a@x.test', listId: a })).status).toBe(200);
    expect((await call(key, 'POST', '/api/v1/contacts', { email: 'only-b@x.test', listId: b })).status).toBe(200);
    // One listId filters, as before.
    expect((await call(key, 'GET', `/api/v1/contacts?listId=${a}`)).body).toMatchObject({ total: 1, contacts: [{ email: 'only-a@x.test' }] });
    const refused = (name: string) => ({ status: 400, body: { error: `${name} must be given once, as a plain value`, code: 'invalid_request' } });
    expect(await call(key, 'GET', `/api/v1/contacts?listId=${a}&listId=${b}`)).toEqual(refused('listId'));
    expect(await call(key, 'GET', `/api/v1/contacts?listId[]=${a}`)).toEqual(refused('listId'));
    expect(await call(key, 'GET', '/api/v1/contacts?status[x]=subscribed')).toEqual(refused('status'));
    expect(await call(key, 'GET', '/api/v1/emails?status=sent&status=bounced')).toEqual(refused('status'));
    // (page - 1) * limit past a 32-bit offset: refused as invalid, where it reached the database and answered 500.
    expect(await call(key, 'GET', '/api/v1/campaigns?limit=25&page=4000000000000000000')).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
    expect(await call(key, 'GET', '/api/v1/campaigns?limit=25&page=1')).toMatchObject({ status: 200, body: { campaigns: [] } });
  });
});

describe('a disabled account', () => {
  it('gets 403 account_inactive on sender-auth and user-auth routes alike', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(s.sessionId);
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: s.userId, AccountStatus: 'Disabled' });
    const inactive = { status: 403, body: { error: expect.stringMatching(/disabled|deactivated/), code: 'account_inactive' } };
    for (const path of ['/api/v1/emails', '/api/v1/webhooks', '/api/v1/stats', '/api/v1/domains', '/api/v1/campaigns', '/api/v1/contacts']) {
      expect({ path, ...(await call(key, 'GET', path)) }).toEqual({ path, ...inactive });
    }
    const send = { to: 'a@example.com', from: `a@${s.domain}`, subject: 'x', text: 'x' };
    expect(await call(key, 'POST', '/api/v1/emails', send)).toEqual(inactive);
  });
});

describe('to', () => {
  it('is one string in the send log and the detail, several recipients comma-separated', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(s.sessionId);
    const send = { to: ['a@example.com', 'Bee <b@example.com>'], from: `you@${s.domain}`, subject: 'Two', text: 'hi' };
    const sent = await call(key, 'POST', '/api/v1/emails', send);
    expect(sent.status).toBe(200);
    const detail = await call(key, 'GET', `/api/v1/emails/${sent.body.id}`);
    expect(detail.body.email).toMatchObject({ id: sent.body.id, to: 'a@example.com, b@example.com' });
    const log = await call(key, 'GET', '/api/v1/emails');
    expect(log.body.emails).toEqual([expect.objectContaining({ id: sent.body.id, to: 'a@example.com, b@example.com' })]);
    const batch = await call(key, 'POST', '/api/v1/emails/batch', { emails: [send] });
    expect(batch.body.results).toEqual([{ to: 'a@example.com, Bee <b@example.com>', id: expect.any(String), status: 'sent' }]);
  });
});
