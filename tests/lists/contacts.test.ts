import { Harness, startHarness } from '../helpers/harness';
import { as, keyWith, makeList, owner, Owner, suppress } from './fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function apiKey(o: Owner): Promise<string> {
  return keyWith(h, o, '*');
}

const post = (key: string, body: Record<string, unknown>) => h.request('POST', '/api/v1/contacts', { query: { APIKey: key }, body });
const list = (key: string, query: Record<string, unknown> = {}) => h.request('GET', '/api/v1/contacts', { query: { APIKey: key, ...query } });

describe('POST /api/v1/contacts', () => {
  it('creates a contact in the peer shape, keeping the name in the list’s Name field', async () => {
    const o = await owner(h);
    const key = await apiKey(o);
    const listId = await makeList(h, o);
    const res = await post(key, { email: 'New@Example.com', name: 'John Doe', listId: String(listId) });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: expect.any(Number),
      email: 'new@example.com',
      name: 'John Doe',
      status: 'subscribed',
      listId,
      suppressed: false,
      createdAt: expect.stringMatching(/Z$/),
    });
    const fields = await as(h, o)('customfields.get', { ListID: listId });
    expect(fields.CustomFields).toEqual([expect.objectContaining({ FieldName: 'Name', MergeTagAlias: 'Name' })]);
    const sub = await as(h, o)('subscriber.get', { ListID: listId, SubscriberID: res.body.id });
    expect(sub.SubscriberInformation[`CustomField${fields.CustomFields[0].CustomFieldID}`]).toBe('John Doe');
    // The second named contact reuses the field.
    await post(key, { email: 'second@example.com', name: 'Jane', listId });
    expect((await as(h, o)('customfields.get', { ListID: listId })).TotalFieldCount).toBe(1);
  });

  it('takes a status and flags suppressed addresses', async () => {
    const o = await owner(h);
    const key = await apiKey(o);
    const listId = await makeList(h, o);
    await suppress(h, o, 'blocked@example.com');
    const res = await post(key, { email: 'blocked@example.com', listId, status: 'pending' });
    expect(res.body).toMatchObject({ status: 'pending', suppressed: true, name: '' });
  });

  it('answers Errors[] with fitting HTTP statuses', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const key = await apiKey(o);
    const listId = await makeList(h, o);
    const theirs = await makeList(h, other);
    const missing = await post(key, {});
    expect(missing.status).toBe(400);
    expect(missing.body.Errors.map((e: any) => e.Code)).toEqual([1, 3]);
    expect((await post(key, { email: 'bad', listId })).body.Errors[0].Code).toBe(2);
    const foreign = await post(key, { email: 'x@example.com', listId: theirs });
    expect([foreign.status, foreign.body.Errors[0].Code]).toEqual([404, 4]);
    expect(await h.services.db('subscribers').where({ list_id: theirs }).first()).toBeUndefined();
    await post(key, { email: 'dup@example.com', listId });
    const dup = await post(key, { email: 'DUP@example.com', listId });
    expect([dup.status, dup.body.Errors[0].Code]).toEqual([409, 5]);
    expect((await post(key, { email: 'y@example.com', listId, status: 'bouncing' })).body.Errors[0].Code).toBe(6);
    expect((await post(key, { email: 'y@example.com', listId, name: 'n'.repeat(256) })).body.Errors[0].Code).toBe(7);
  });

  it('answers 401 without valid credentials and 403 without Subscribers.Import', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const anon = await h.request('POST', '/api/v1/contacts', { body: { email: 'a@example.com', listId } });
    expect([anon.status, anon.body.Errors[0].Code]).toEqual([401, 99998]);
    const limited = await keyWith(h, o, 'Subscribers.Get');
    const denied = await post(limited, { email: 'a@example.com', listId });
    expect([denied.status, denied.body.Errors[0].Code]).toEqual([403, 99999]);
  });
});

describe('GET /api/v1/contacts', () => {
  it('pages contacts of one list or all lists, filtered by status, never another user’s', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const key = await apiKey(o);
    const a = await makeList(h, o);
    const b = await makeList(h, o);
    const theirs = await makeList(h, other);
    const ids: number[] = [];
    for (const e of ['1', '2', '3']) ids.push((await post(key, { email: `a${e}@example.com`, name: `A ${e}`, listId: a })).body.id);
    const inB = (await post(key, { email: 'b@example.com', listId: b, status: 'unsubscribed' })).body.id;
    await post(await apiKey(other), { email: 'other@example.com', listId: theirs });

    const page1 = await list(key, { listId: a, limit: 2 });
    expect(page1.status).toBe(200);
    expect(page1.body).toMatchObject({ total: 3, page: 1 });
    expect(page1.body.contacts.map((c: any) => [c.id, c.name])).toEqual([
      [ids[0], 'A 1'],
      [ids[1], 'A 2'],
    ]);
    const page2 = await list(key, { listId: a, limit: 2, page: 2 });
    expect(page2.body.contacts.map((c: any) => c.id)).toEqual([ids[2]]);

    const everything = await list(key);
    expect(everything.body.total).toBe(4);
    expect(everything.body.contacts.map((c: any) => c.id)).toEqual([...ids, inB]); // every list's, in id order
    expect(everything.body.contacts.map((c: any) => c.email)).not.toContain('other@example.com');
    const unsub = await list(key, { status: 'unsubscribed' });
    expect(unsub.body.contacts).toEqual([expect.objectContaining({ id: inB, status: 'unsubscribed', listId: b, name: '' })]);

    const foreign = await list(key, { listId: theirs });
    expect([foreign.status, foreign.body.Errors[0].Code]).toEqual([404, 4]);
    expect((await list(key, { limit: 101 })).body.Errors[0].Code).toBe(8);
    expect((await list(key, { page: 0 })).body.Errors[0].Code).toBe(9);
    expect((await list(key, { status: 'odd' })).body.Errors[0].Code).toBe(6);
  });

  it('answers an account without lists with no contacts', async () => {
    const r = await list(await apiKey(await owner(h)));
    expect([r.status, r.body]).toEqual([200, { contacts: [], total: 0, page: 1 }]);
  });
});
