/**
 * The platform dialect's answers to what a client should not send, through the real HTTP door: a field of the wrong
 * JSON type is a 400 naming it (the commands' schemas had turned `name: 5` into "5" and read `listId: {}` as a missing
 * list); an :id that is not valid percent-encoding is answered in the platform's shape; and a key limited to some
 * domains can show and launch the campaign it creates with the spec's body (no `from`).
 */
import { accountKey, addDomain, Harness, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';
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

async function call(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${gw.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json() };
}

const bad = (error: string) => ({ status: 400, body: { error, code: 'invalid_request' } });

describe('fields of the wrong JSON type', () => {
  it('are refused by name on POST /api/v1/campaigns and /api/v1/contacts, and nothing is made', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(h, s.sessionId);
    const listId = String(
      (await h.call({ Command: 'list.create', SessionID: s.sessionId, SubscriberListName: 'L', SenderEmailAddress: `news@${s.domain}` })).ListID,
    );
    const campaign = { name: 'March Newsletter', subject: 'News!', listId, content: '<h1>Hello</h1>' };
    expect(await call(key, 'POST', '/api/v1/campaigns', { ...campaign, name: 5 })).toEqual(bad('name must be a string'));
    expect(await call(key, 'POST', '/api/v1/campaigns', { ...campaign, subject: true })).toEqual(bad('subject must be a string'));
    expect(await call(key, 'POST', '/api/v1/campaigns', { ...campaign, listId: { id: listId } })).toEqual(bad('listId must be a string or a number'));
    expect(await call(key, 'POST', '/api/v1/contacts', { email: 'a@example.com', name: { first: 'A' }, listId })).toEqual(bad('name must be a string'));
    expect(await call(key, 'POST', '/api/v1/contacts', { email: 'a@example.com', listId: [listId] })).toEqual(bad('listId must be a string or a number'));
    expect((await call(key, 'GET', '/api/v1/campaigns')).body.total).toBe(0);
    expect((await call(key, 'GET', '/api/v1/contacts')).body.total).toBe(0);
    // A numeric listId is still an id, and the name answered is the one stored (trimmed), a string.
    expect(await call(key, 'POST', '/api/v1/campaigns', { ...campaign, name: '  March  ', listId: Number(listId) })).toEqual({
      status: 200,
      body: { id: expect.any(String), name: 'March', status: 'draft' },
    });
  });
});

describe('an :id that is not valid percent-encoding', () => {
  it("is a 400 in the platform's {error, code}, not Octeth's envelope", async () => {
    const s = await senderSetup(h);
    const key = await accountKey(h, s.sessionId);
    for (const path of ['/api/v1/emails/%ZZ', '/api/v1/campaigns/%E0%A4%zz', '/api/v1/domains/%ZZ/verify']) {
      const method = path.endsWith('verify') ? 'POST' : 'GET';
      expect({ path, ...(await call(key, method, path)) }).toEqual({ path, ...bad(`The path ${path} is not valid percent-encoding`) });
    }
  });
});

describe('a key limited to some domains', () => {
  it('shows, launches and cancels the campaign it creates with the spec body, and refuses a From outside its domains', async () => {
    const s = await senderSetup(h);
    const other = uniqueDomain('other');
    const otherId = await addDomain(h, s.sessionId, other);
    await h.services.db('sender_domains').where({ id: otherId }).update({ status: 'Enabled' });
    const key = await accountKey(h, s.sessionId, { Domains: s.domain });
    const list = (from: string) => h.call({ Command: 'list.create', SessionID: s.sessionId, SubscriberListName: from, SenderEmailAddress: from });
    const mine = String((await list(`news@${s.domain}`)).ListID);
    expect((await call(key, 'POST', '/api/v1/contacts', { email: 'member@example.com', listId: mine })).status).toBe(200);

    const made = await call(key, 'POST', '/api/v1/campaigns', { name: 'March Newsletter', subject: 'News!', listId: mine, content: '<h1>Hello</h1>' });
    expect(made).toEqual({ status: 200, body: { id: expect.any(String), name: 'March Newsletter', status: 'draft' } });
    expect(await call(key, 'GET', `/api/v1/campaigns/${made.body.id}`)).toMatchObject({ status: 200, body: { id: made.body.id, status: 'draft' } });
    expect((await call(key, 'GET', '/api/v1/campaigns')).body).toMatchObject({ total: 1, campaigns: [{ id: made.body.id }] });
    expect(await call(key, 'POST', `/api/v1/campaigns/${made.body.id}/launch`)).toEqual({ status: 200, body: { success: true, status: 'sending' } });
    expect(await call(key, 'POST', `/api/v1/campaigns/${made.body.id}/cancel`)).toEqual({ status: 200, body: { success: true, status: 'cancelled' } });

    // A From the key may not use, given or the list's, is refused at once rather than made into a draft it cannot see.
    const theirs = String((await list(`news@${other}`)).ListID);
    const refused = bad(`This API key may not send from news@${other}`);
    expect(await call(key, 'POST', '/api/v1/campaigns', { name: 'N', subject: 'S', listId: theirs, content: 'x' })).toEqual(refused);
    expect(await call(key, 'POST', '/api/v1/campaigns', { name: 'N', subject: 'S', listId: mine, content: 'x', from: `news@${other}` })).toEqual(refused);
    expect((await call(key, 'GET', '/api/v1/campaigns')).body.total).toBe(1);

    // Without a list or a From: noreply@ the key's first domain, not the account's first.
    const key2 = await accountKey(h, s.sessionId, { Domains: other });
    const bare = await call(key2, 'POST', '/api/v1/campaigns', { name: 'No list', subject: 'S', content: 'x' });
    expect(bare.status).toBe(200);
    expect(await call(key2, 'GET', `/api/v1/campaigns/${bare.body.id}`)).toMatchObject({ status: 200, body: { id: bare.body.id, status: 'draft' } });
  });
});
