import { Harness, startHarness } from '../helpers/harness';
import { addSubscriber, as, keyWith, makeField, makeList, owner, Owner, SUBSCRIBED, suppress } from './fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const create = (o: Owner, params: Record<string, unknown>) => as(h, o)('subscriber.create', params);

describe('subscriber.create', () => {
  it('adds a subscriber with custom fields and answers Octeth fields', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const first = await makeField(h, o, listId, 'First name', 'FirstName');
    const city = await makeField(h, o, listId, 'City', undefined, { DefaultValue: 'Nowhere' });
    const r = await create(o, { ListID: listId, EmailAddress: 'Ann@Example.com', ...SUBSCRIBED, CustomFields: { [first]: 'Ann' }, Source: 'webhook' });
    expect(r).toMatchObject({
      Success: true,
      ErrorCode: 0,
      Suppressed: false,
      SubscriberTags: [],
      SubscriberSegments: [],
      SubscriberJourneys: [],
      SubscriberWebsiteEvents: [],
    });
    expect(r.SubscriberInformation).toMatchObject({
      SubscriberID: expect.any(Number),
      EmailAddress: 'ann@example.com',
      SubscriptionStatus: 'Subscribed',
      SubscriptionDate: '2026-01-02 03:04:05',
      SubscriptionIP: '192.0.2.10',
      Source: 'Webhook',
      CustomFields: { [String(first)]: 'Ann', [String(city)]: 'Nowhere' },
      [`CustomField${first}`]: 'Ann',
      [`CustomField${city}`]: 'Nowhere',
    });
    const row = await h.services.db('subscribers').where({ id: r.SubscriberInformation.SubscriberID }).first();
    expect(row).toMatchObject({ list_id: listId, email: 'ann@example.com', status: 'Subscribed' });
  });

  it('takes CustomFields as a JSON string in a form post', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const f = await makeField(h, o, listId, 'Plan');
    const res = await (
      await import('supertest')
    )
      .default(h.app)
      .post('/api.php')
      .type('form')
      .send({
        Command: 'subscriber.create',
        SessionID: o.sessionId,
        ListID: String(listId),
        EmailAddress: 'form@example.com',
        ...SUBSCRIBED,
        CustomFields: JSON.stringify({ [f]: 'Gold' }),
      });
    expect(res.body.Success).toBe(true);
    expect(res.body.SubscriberInformation[`CustomField${f}`]).toBe('Gold');
  });

  it('answers a scalar ErrorCode with Errors[] for each Octeth code', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const ok = { ListID: listId, EmailAddress: 'c@example.com', ...SUBSCRIBED };
    const cases: [Record<string, unknown>, number][] = [
      [{ ...ok, ListID: undefined }, 1],
      [{ ...ok, EmailAddress: undefined }, 2],
      [{ ...ok, EmailAddress: 'not-an-email' }, 3],
      [{ ...ok, ListID: 999999 }, 4],
      [{ ...ok, Status: 'Bounced' }, 6],
      [{ ...ok, SubscriptionDate: '2026-02-30' }, 7],
      [{ ...ok, SubscriptionDate: undefined }, 8],
      [{ ...ok, SubscriptionIP: undefined }, 9],
      [{ ...ok, SubscriptionIP: '999.1.1.1' }, 10],
      [{ ...ok, Status: 'Unsubscribed', SubscriptionDate: undefined, SubscriptionIP: undefined, UnsubscriptionIP: '192.0.2.3' }, 11],
      [{ ...ok, Status: 'Unsubscribed', UnsubscriptionDate: '2026-01-01' }, 12],
      [{ ...ok, Status: 'Unsubscribed', UnsubscriptionDate: 'yesterday', UnsubscriptionIP: '192.0.2.3' }, 13],
      [{ ...ok, Status: 'Unsubscribed', UnsubscriptionDate: '2026-01-01', UnsubscriptionIP: 'x' }, 14],
      [{ ...ok, CustomFields: { 424242: 'x' } }, 17],
    ];
    for (const [params, code] of cases) {
      const r = await create(o, params);
      expect({ code, r }).toMatchObject({ code, r: { Success: false, ErrorCode: code, Errors: [{ Code: code, Message: expect.any(String) }] } });
    }
    expect(await h.services.db('subscribers').where({ list_id: listId }).count({ n: '*' })).toEqual([{ n: 0 }]);
  });

  it('answers 20 for a duplicate address (any case) and updates it with UpdateIfDuplicate', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const f = await makeField(h, o, listId, 'Name', 'Name');
    const g = await makeField(h, o, listId, 'Plan');
    const id = await addSubscriber(h, o, listId, 'dup@example.com', { CustomFields: { [f]: 'Old', [g]: 'Basic' } });
    expect(await create(o, { ListID: listId, EmailAddress: 'DUP@example.com', ...SUBSCRIBED })).toMatchObject({ Success: false, ErrorCode: 20 });
    const r = await create(o, {
      ListID: listId,
      EmailAddress: 'DUP@example.com',
      Status: 'Opt-In Pending',
      SubscriptionDate: '2026-03-01',
      SubscriptionIP: '192.0.2.9',
      CustomFields: { [f]: 'New' },
      UpdateIfDuplicate: true,
    });
    expect(r.Success).toBe(true);
    expect(r.SubscriberInformation).toMatchObject({
      SubscriberID: id,
      SubscriptionStatus: 'Opt-In Pending',
      SubscriptionDate: '2026-03-01 00:00:00',
      [`CustomField${f}`]: 'New',
      [`CustomField${g}`]: 'Basic',
    });
    expect(await h.services.db('subscribers').where({ list_id: listId }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('answers 21 for an unsubscribed duplicate unless UpdateIfUnsubscribed', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const id = await addSubscriber(h, o, listId, 'gone@example.com', {
      Status: 'Unsubscribed',
      UnsubscriptionDate: '2026-01-05',
      UnsubscriptionIP: '192.0.2.4',
    });
    const again = { ListID: listId, EmailAddress: 'gone@example.com', ...SUBSCRIBED, UpdateIfDuplicate: 1 };
    expect(await create(o, again)).toMatchObject({ Success: false, ErrorCode: 21 });
    const r = await create(o, { ...again, UpdateIfUnsubscribed: 'true' });
    expect(r.SubscriberInformation).toMatchObject({ SubscriberID: id, SubscriptionStatus: 'Subscribed' });
  });

  it("answers 4 for another user's list and writes nothing there", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const theirs = await makeList(h, other);
    expect(await create(o, { ListID: theirs, EmailAddress: 'x@example.com', ...SUBSCRIBED })).toMatchObject({ ErrorCode: 4 });
    expect(await h.services.db('subscribers').where({ list_id: theirs }).first()).toBeUndefined();
  });

  it('answers 17 for a custom field of another list', async () => {
    const o = await owner(h);
    const a = await makeList(h, o);
    const b = await makeList(h, o);
    const fb = await makeField(h, o, b, 'B only');
    expect(await create(o, { ListID: a, EmailAddress: 'x@example.com', ...SUBSCRIBED, CustomFields: { [fb]: 'v' } })).toMatchObject({ ErrorCode: 17 });
  });

  it('flags an address suppressed on any of the owner’s domains, but not on another user’s', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const listId = await makeList(h, o);
    await suppress(h, o, 'Blocked@example.com');
    await suppress(h, other, 'theirs@example.com');
    expect((await create(o, { ListID: listId, EmailAddress: 'blocked@example.com', ...SUBSCRIBED })).Suppressed).toBe(true);
    expect((await create(o, { ListID: listId, EmailAddress: 'theirs@example.com', ...SUBSCRIBED })).Suppressed).toBe(false);
  });

  it('needs Subscribers.Import', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const key = await keyWith(h, o, 'Subscribers.Get');
    expect(await h.call({ Command: 'subscriber.create', APIKey: key, ListID: listId, EmailAddress: 'p@example.com', ...SUBSCRIBED })).toMatchObject({
      ErrorCode: 99999,
    });
  });
});

describe('subscriber.get', () => {
  it('finds a member by SubscriberID or EmailAddress with its fields and Suppressed flag', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const f = await makeField(h, o, listId, 'First', 'FirstName');
    const id = await addSubscriber(h, o, listId, 'get@example.com', { CustomFields: { [f]: 'Gus' } });
    await suppress(h, o, 'get@example.com');
    const byId = await as(h, o)('subscriber.get', { ListID: listId, SubscriberID: id });
    expect(byId).toMatchObject({
      Success: true,
      Suppressed: true,
      SubscriberInformation: { SubscriberID: id, EmailAddress: 'get@example.com', [`CustomField${f}`]: 'Gus' },
    });
    const byEmail = await as(h, o)('subscriber.get', { ListID: listId, EmailAddress: 'GET@example.com' });
    expect(byEmail.SubscriberInformation.SubscriberID).toBe(id);
  });

  it("answers [1] [2] missing, [3] not found, [4] another user's list", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const listId = await makeList(h, o);
    const theirs = await makeList(h, other);
    const theirSub = await addSubscriber(h, other, theirs, 'secret@example.com');
    expect(await as(h, o)('subscriber.get', {})).toMatchObject({ ErrorCode: [1, 2] });
    expect(await as(h, o)('subscriber.get', { ListID: listId })).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('subscriber.get', { SubscriberID: 1 })).toMatchObject({ ErrorCode: [2] });
    expect(await as(h, o)('subscriber.get', { ListID: listId, SubscriberID: theirSub })).toMatchObject({ ErrorCode: [3] });
    const r = await as(h, o)('subscriber.get', { ListID: theirs, SubscriberID: theirSub });
    expect(r).toMatchObject({ Success: false, ErrorCode: [4] });
    expect(JSON.stringify(r)).not.toContain('secret@example.com');
  });
});

describe('subscribers.get', () => {
  it('pages a list with TotalSubscribers, filters by segment and flags suppressed rows', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const emails = ['e@example.com', 'a@example.com', 'd@example.com', 'c@example.com', 'b@example.com'];
    for (const e of emails) await addSubscriber(h, o, listId, e);
    await addSubscriber(h, o, listId, 'u@example.com', { Status: 'Unsubscribed', UnsubscriptionDate: '2026-01-01', UnsubscriptionIP: '192.0.2.1' });
    await addSubscriber(h, o, listId, 'p@example.com', { Status: 'Opt-In Pending' });
    await suppress(h, o, 'c@example.com');
    const get = (extra: Record<string, unknown>) => as(h, o)('subscribers.get', { SubscriberListID: listId, ...extra });

    const all = await get({});
    expect(all).toMatchObject({ Success: true, ErrorText: '', TotalSubscribers: 7 });
    expect(all.Subscribers.map((s: any) => s.EmailAddress)).toEqual(['a', 'b', 'c', 'd', 'e', 'p', 'u'].map((x) => `${x}@example.com`));

    const page = await get({ SubscriberSegment: 'Active', RecordsPerRequest: 2, RecordsFrom: 2 });
    expect(page.TotalSubscribers).toBe(5);
    expect(page.Subscribers.map((s: any) => [s.EmailAddress, s.Suppressed])).toEqual([
      ['c@example.com', true],
      ['d@example.com', false],
    ]);

    expect((await get({ SubscriberSegment: 'Unsubscribed' })).Subscribers.map((s: any) => s.EmailAddress)).toEqual(['u@example.com']);
    expect((await get({ SubscriberSegment: 'Opt-in pending' })).Subscribers.map((s: any) => s.EmailAddress)).toEqual(['p@example.com']);
    expect((await get({ SubscriberSegment: 'Suppressed' })).Subscribers.map((s: any) => s.EmailAddress)).toEqual(['c@example.com']);
    const desc = await get({ OrderField: 'SubscriberID', OrderType: 'DESC', RecordsPerRequest: 1 });
    expect(desc.Subscribers[0].EmailAddress).toBe('p@example.com');
    const search = await get({ SearchKeyword: 'B@' });
    expect(search.Subscribers.map((s: any) => s.EmailAddress)).toEqual(['b@example.com']);
  });

  it('orders by SubscriptionDate either way, equal dates by SubscriberID in the same direction', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    for (const e of ['x', 'y', 'z']) await addSubscriber(h, o, listId, `${e}@order.test`); // the same date
    await addSubscriber(h, o, listId, 'w@order.test', { SubscriptionDate: '2025-12-31 00:00:00' });
    const order = async (type: string) =>
      (await as(h, o)('subscribers.get', { SubscriberListID: listId, OrderField: 'SubscriptionDate', OrderType: type })).Subscribers.map(
        (s: any) => s.EmailAddress[0],
      );
    expect(await order('ASC')).toEqual(['w', 'x', 'y', 'z']);
    expect(await order('DESC')).toEqual(['z', 'y', 'x', 'w']);
  });

  it("answers 1 missing list, 3 another user's list, 5 segment, 6 paging, 7 order", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const listId = await makeList(h, o);
    const theirs = await makeList(h, other);
    await addSubscriber(h, other, theirs, 'hidden@example.com');
    expect(await as(h, o)('subscribers.get', {})).toMatchObject({ ErrorCode: 1 });
    const foreign = await as(h, o)('subscribers.get', { SubscriberListID: theirs });
    expect(foreign).toMatchObject({ Success: false, ErrorCode: 3 });
    expect(JSON.stringify(foreign)).not.toContain('hidden@');
    expect(await as(h, o)('subscribers.get', { SubscriberListID: listId, SubscriberSegment: 'Bounced' })).toMatchObject({ ErrorCode: 5 });
    expect(await as(h, o)('subscribers.get', { SubscriberListID: listId, RecordsPerRequest: 5000 })).toMatchObject({ ErrorCode: [6] });
    expect(await as(h, o)('subscribers.get', { SubscriberListID: listId, OrderField: 'Password' })).toMatchObject({ ErrorCode: 7 });
  });
});

describe('subscriber.update', () => {
  it('changes the address, status and custom fields in both spellings', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const f = await makeField(h, o, listId, 'First', 'FirstName');
    const g = await makeField(h, o, listId, 'Plan');
    const id = await addSubscriber(h, o, listId, 'old@example.com', { CustomFields: { [f]: 'Olga' } });
    const r = await as(h, o)('subscriber.update', {
      SubscriberID: id,
      SubscriberListID: listId,
      EmailAddress: 'New@example.com',
      Fields: { [`CustomField${f}`]: 'Nina' },
      CustomFields: { [g]: 'Pro' },
    });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, ErrorText: '' });
    expect(r.SubscriberInformation).toMatchObject({ EmailAddress: 'new@example.com', [`CustomField${f}`]: 'Nina', [`CustomField${g}`]: 'Pro' });
    const un = await as(h, o)('subscriber.update', { SubscriberID: id, ListID: listId, SubscriptionStatus: 'Unsubscribed', UnsubscriptionIP: '192.0.2.77' });
    expect(un.SubscriberInformation).toMatchObject({
      SubscriptionStatus: 'Unsubscribed',
      UnsubscriptionIP: '192.0.2.77',
      UnsubscriptionDate: expect.any(String),
    });
    const back = await as(h, o)('subscriber.update', { SubscriberID: id, ListID: listId, SubscriptionStatus: 'subscribed' });
    expect(back.SubscriberInformation).toMatchObject({ SubscriptionStatus: 'Subscribed', UnsubscriptionDate: null });
  });

  it('answers its codes, and 5/6 for ids of another user', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const listId = await makeList(h, o);
    const theirs = await makeList(h, other);
    const theirSub = await addSubscriber(h, other, theirs, 'victim@example.com');
    const a = await addSubscriber(h, o, listId, 'a@example.com');
    await addSubscriber(h, o, listId, 'b@example.com');
    const upd = (params: Record<string, unknown>) => as(h, o)('subscriber.update', params);
    expect(await upd({ SubscriberListID: listId })).toMatchObject({ ErrorCode: 1 });
    expect(await upd({ SubscriberID: a })).toMatchObject({ ErrorCode: 2 });
    expect(await upd({ SubscriberID: a, SubscriberListID: listId, EmailAddress: ' ' })).toMatchObject({ ErrorCode: 3 });
    expect(await upd({ SubscriberID: a, SubscriberListID: listId, EmailAddress: 'bad' })).toMatchObject({ ErrorCode: 4 });
    expect(await upd({ SubscriberID: theirSub, SubscriberListID: theirs, SubscriptionStatus: 'Unsubscribed' })).toMatchObject({ ErrorCode: 5 });
    expect(await upd({ SubscriberID: theirSub, SubscriberListID: listId, SubscriptionStatus: 'Unsubscribed' })).toMatchObject({ ErrorCode: 6 });
    expect((await h.services.db('subscribers').where({ id: theirSub }).first()).status).toBe('Subscribed');
    expect(await upd({ SubscriberID: a, SubscriberListID: listId, EmailAddress: 'B@example.com' })).toMatchObject({ ErrorCode: 7 });
    expect(await upd({ SubscriberID: a, SubscriberListID: listId, Fields: { CustomField1: { nested: true } } })).toMatchObject({ ErrorCode: 11 });
    const unknown = await upd({ SubscriberID: a, SubscriberListID: listId, Fields: { CustomField999999: 'x' } });
    expect(unknown).toMatchObject({ ErrorCode: 11, ErrorCustomFieldIDs: ['999999'] });
    const f = await makeField(h, o, listId, 'F');
    expect(await upd({ SubscriberID: a, SubscriberListID: listId, Fields: { [`CustomField${f}`]: { nested: true } } })).toMatchObject({ ErrorCode: 10 });
    expect(await upd({ SubscriberID: a, SubscriberListID: listId, SubscriptionStatus: 'Gone' })).toMatchObject({ ErrorCode: 12 });
  });
});

describe('subscriber.delete', () => {
  it('deletes members of the list by id list, leaving other lists alone', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const otherList = await makeList(h, o);
    const f = await makeField(h, o, listId, 'F');
    const a = await addSubscriber(h, o, listId, 'a@example.com', { CustomFields: { [f]: 'x' } });
    const b = await addSubscriber(h, o, listId, 'b@example.com');
    const c = await addSubscriber(h, o, listId, 'c@example.com');
    const elsewhere = await addSubscriber(h, o, otherList, 'z@example.com');
    const r = await as(h, o)('subscriber.delete', { SubscriberListID: listId, Subscribers: `${a},${b},${elsewhere}` });
    expect(r).toEqual({ Success: true, ErrorCode: 0, ErrorText: '', DeletedCount: 2 });
    const db = h.services.db;
    expect((await db('subscribers').where({ list_id: listId }).pluck('id')).map(Number)).toEqual([c]);
    expect(await db('subscribers').where({ id: elsewhere }).first()).toBeDefined();
    expect(await db('subscriber_values').where({ subscriber_id: a }).first()).toBeUndefined();
    expect(await as(h, o)('subscriber.delete', { ListID: listId, SubscriberID: c })).toMatchObject({ DeletedCount: 1 });
  });

  it("answers 1, 2, 5 (another user's list), 6 and 8", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const listId = await makeList(h, o);
    const theirs = await makeList(h, other);
    const theirSub = await addSubscriber(h, other, theirs, 't@example.com');
    const del = (params: Record<string, unknown>) => as(h, o)('subscriber.delete', params);
    expect(await del({ SubscriberListID: listId })).toMatchObject({ ErrorCode: 1 });
    expect(await del({ Subscribers: '1' })).toMatchObject({ ErrorCode: 2 });
    expect(await del({ SubscriberListID: theirs, Subscribers: String(theirSub) })).toMatchObject({ ErrorCode: 5 });
    expect(await del({ SubscriberListID: listId, Subscribers: String(theirSub) })).toMatchObject({ ErrorCode: 6 });
    expect(await del({ SubscriberListID: listId, Subscribers: '1,two' })).toMatchObject({ ErrorCode: 8 });
    expect(await h.services.db('subscribers').where({ id: theirSub }).first()).toBeDefined();
  });
});
