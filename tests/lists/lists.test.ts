import { Harness, startHarness } from '../helpers/harness';
import { addSubscriber, as, keyWith, makeField, makeList, owner } from './fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('list.create', () => {
  it('creates a list owned by the caller and answers ListID with an empty ErrorText', async () => {
    const o = await owner(h);
    const r = await as(h, o)('list.create', { SubscriberListName: ' Weekly ', OptInMode: 'double', SenderEmailAddress: 'news@example.com', Description: 'd' });
    expect(r).toEqual({ Success: true, ErrorCode: 0, ErrorText: '', ListID: expect.any(Number) });
    const row = await h.services.db('lists').where({ id: r.ListID }).first();
    expect(row).toMatchObject({ user_id: o.userId, name: 'Weekly', opt_in_mode: 'Double', sender_email_address: 'news@example.com', description: 'd' });
  });

  it('answers [1] without SubscriberListName, also for a blank one', async () => {
    const o = await owner(h);
    expect(await as(h, o)('list.create', {})).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await as(h, o)('list.create', { SubscriberListName: '   ' })).toMatchObject({ Success: false, ErrorCode: [1] });
  });

  it('answers [20] for an unknown OptInMode and [21] for a bad sender address, together', async () => {
    const o = await owner(h);
    const r = await as(h, o)('list.create', { SubscriberListName: 'x', OptInMode: 'Triple', SenderEmailAddress: 'nope' });
    expect(r).toMatchObject({ Success: false, ErrorCode: [20, 21] });
    expect(r.ErrorText).toHaveLength(2);
  });

  it('answers [22] for an over-long setting', async () => {
    const o = await owner(h);
    expect(await as(h, o)('list.create', { SubscriberListName: 'x', SenderName: 'n'.repeat(256) })).toMatchObject({ ErrorCode: [22] });
  });

  it('needs authentication (99998) and the List.Create permission (99999)', async () => {
    const o = await owner(h);
    expect(await h.call({ Command: 'list.create', SubscriberListName: 'x' })).toMatchObject({ Success: false, ErrorCode: 99998 });
    const key = await keyWith(h, o, 'List.Get');
    const r = await h.call({ Command: 'List.Create', APIKey: key, SubscriberListName: 'x' });
    expect(r).toMatchObject({ Success: false, ErrorCode: 99999, ErrorText: 'User does not have the required permission (List.Create)' });
    const allowed = await keyWith(h, o, 'List.Create');
    expect(await h.call({ Command: 'List.Create', APIKey: allowed, SubscriberListName: 'x' })).toMatchObject({ Success: true });
  });
});

describe('list.get', () => {
  it('returns the list with counts, custom fields and, with GetStats, counts by status', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o, { SenderName: 'Acme' });
    const fieldId = await makeField(h, o, listId, 'First name', 'FirstName');
    await addSubscriber(h, o, listId, 'a@example.com');
    await addSubscriber(h, o, listId, 'b@example.com');
    await addSubscriber(h, o, listId, 'c@example.com', { Status: 'Unsubscribed', UnsubscriptionDate: '2026-02-01', UnsubscriptionIP: '192.0.2.1' });
    const r = await as(h, o)('list.get', { ListID: listId, GetStats: 1 });
    expect(r.Success).toBe(true);
    expect(r.List).toMatchObject({ ListID: listId, Name: 'Newsletter', RelOwnerUserID: o.userId, SenderName: 'Acme', OptInMode: 'Single', SubscriberCount: 3 });
    expect(r.List.Stats).toEqual({ TotalSubscribers: 3, Subscribed: 2, Unsubscribed: 1, OptInPending: 0 });
    expect(r.List.CustomFields).toEqual([
      { CustomFieldID: fieldId, ListID: listId, FieldName: 'First name', FieldType: 'Single line', MergeTagAlias: 'FirstName', DefaultValue: '' },
    ]);
    const plain = await as(h, o)('list.get', { ListID: listId });
    expect(plain.List.Stats).toBeUndefined();
  });

  it("answers [1] for a missing ListID, an unknown one, and another user's", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const theirs = await makeList(h, other);
    expect(await as(h, o)('list.get', {})).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await as(h, o)('list.get', { ListID: 999999 })).toMatchObject({ Success: false, ErrorCode: [1] });
    const r = await as(h, o)('list.get', { ListID: theirs });
    expect(r).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(r.List).toBeUndefined();
  });
});

describe('lists.get', () => {
  it("pages through the caller's lists only, with TotalListCount, search and order", async () => {
    const o = await owner(h);
    const other = await owner(h);
    await makeList(h, other, { SubscriberListName: 'Alpha foreign' });
    const a = await makeList(h, o, { SubscriberListName: 'Alpha' });
    const b = await makeList(h, o, { SubscriberListName: 'Beta' });
    const c = await makeList(h, o, { SubscriberListName: 'Alphabet' });
    await addSubscriber(h, o, b, 'x@example.com');

    const all = await as(h, o)('lists.get', {});
    expect(all).toMatchObject({ Success: true, ErrorCode: 0, ErrorText: '', TotalListCount: 3 });
    expect(all.Lists.map((l: any) => l.ListID)).toEqual([a, b, c]);
    expect(all.Lists[1].SubscriberCount).toBe(1);

    const page = await as(h, o)('lists.get', { RecordsPerRequest: 2, RecordsFrom: 1 });
    expect(page.TotalListCount).toBe(3);
    expect(page.Lists.map((l: any) => l.ListID)).toEqual([b, c]);

    const search = await as(h, o)('lists.get', { Search: 'alpha' });
    expect(search.TotalListCount).toBe(2);
    expect(search.Lists.map((l: any) => l.Name)).toEqual(['Alpha', 'Alphabet']);

    const byName = await as(h, o)('lists.get', { OrderField: 'Name', OrderType: 'DESC' });
    expect(byName.Lists.map((l: any) => l.Name)).toEqual(['Beta', 'Alphabet', 'Alpha']);

    expect(await as(h, o)('lists.get', { Archived: 1 })).toMatchObject({ Success: true, TotalListCount: 0, Lists: [] });
  });

  it('answers its codes for bad paging and ordering', async () => {
    const o = await owner(h);
    expect(await as(h, o)('lists.get', { RecordsPerRequest: -1 })).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('lists.get', { RecordsFrom: 'x' })).toMatchObject({ ErrorCode: [2] });
    expect(await as(h, o)('lists.get', { OrderField: 'constructor' })).toMatchObject({ ErrorCode: [4] });
    expect(await as(h, o)('lists.get', { OrderType: 'sideways' })).toMatchObject({ ErrorCode: [5] });
  });

  it('needs Lists.Get', async () => {
    const o = await owner(h);
    const key = await keyWith(h, o, 'List.Get');
    expect(await h.call({ Command: 'lists.get', APIKey: key })).toMatchObject({ ErrorCode: 99999 });
  });
});

describe('list.update', () => {
  it('changes only the settings sent and answers the list', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o, { SenderName: 'Keep' });
    const r = await as(h, o)('list.update', { SubscriberListID: listId, Name: 'Renamed', OptInMode: 'Double' });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, ErrorText: '', List: { ListID: listId, Name: 'Renamed', OptInMode: 'Double', SenderName: 'Keep' } });
    const viaListId = await as(h, o)('list.update', { ListID: listId, SenderCompany: 'Acme' });
    expect(viaListId.List).toMatchObject({ Name: 'Renamed', SenderCompany: 'Acme' });
  });

  it("answers [1] missing, [2] unknown or another user's, [3] bad OptInMode, [6] empty name, [11] nothing to update", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const mine = await makeList(h, o);
    const theirs = await makeList(h, other, { SubscriberListName: 'Theirs' });
    expect(await as(h, o)('list.update', { Name: 'x' })).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('list.update', { SubscriberListID: theirs, Name: 'Hijacked' })).toMatchObject({ ErrorCode: [2] });
    expect((await h.services.db('lists').where({ id: theirs }).first()).name).toBe('Theirs');
    expect(await as(h, o)('list.update', { SubscriberListID: mine, OptInMode: 'x' })).toMatchObject({ ErrorCode: [3] });
    expect(await as(h, o)('list.update', { SubscriberListID: mine, Name: ' ' })).toMatchObject({ ErrorCode: [6] });
    expect(await as(h, o)('list.update', { SubscriberListID: mine })).toMatchObject({ ErrorCode: [11] });
  });
});

describe('list.delete', () => {
  it('deletes the lists with their subscribers, fields and values', async () => {
    const o = await owner(h);
    const a = await makeList(h, o);
    const b = await makeList(h, o);
    const keep = await makeList(h, o);
    const field = await makeField(h, o, a, 'City');
    await addSubscriber(h, o, a, 'one@example.com', { CustomFields: { [field]: 'Paris' } });
    await addSubscriber(h, o, keep, 'two@example.com');
    expect(await as(h, o)('list.delete', { Lists: `${a}, ${b}` })).toEqual({ Success: true, ErrorCode: 0, ErrorText: '' });
    const db = h.services.db;
    expect(await db('lists').whereIn('id', [a, b]).count({ n: '*' })).toEqual([{ n: 0 }]);
    expect(await db('subscribers').where({ list_id: a }).first()).toBeUndefined();
    expect(await db('list_custom_fields').where({ id: field }).first()).toBeUndefined();
    expect(await db('subscriber_values').where({ field_id: field }).first()).toBeUndefined();
    expect(await db('subscribers').where({ list_id: keep }).first()).toBeDefined();
    expect(await as(h, o)('list.delete', { ListID: keep })).toMatchObject({ Success: true });
    expect(await as(h, o)('list.get', { ListID: keep })).toMatchObject({ ErrorCode: [1] });
  });

  it("answers 1 for missing or malformed ids and 2 for another user's list, deleting nothing", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const mine = await makeList(h, o);
    const theirs = await makeList(h, other);
    expect(await as(h, o)('list.delete', {})).toMatchObject({ Success: false, ErrorCode: 1 });
    expect(await as(h, o)('list.delete', { Lists: '1,x' })).toMatchObject({ Success: false, ErrorCode: 1 });
    expect(await as(h, o)('list.delete', { Lists: `${mine},${theirs}` })).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(await h.services.db('lists').whereIn('id', [mine, theirs]).count({ n: '*' })).toEqual([{ n: 2 }]);
  });
});

describe('customfield.create / customfields.get / customfield.delete', () => {
  it('defines fields with aliases and lists them in order', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const r = await as(h, o)('customfield.create', { SubscriberListID: listId, FieldName: 'First name', MergeTagAlias: 'FirstName', DefaultValue: 'friend' });
    expect(r).toEqual({ Success: true, ErrorCode: 0, ErrorText: '', CustomFieldID: expect.any(Number) });
    const second = await makeField(h, o, listId, 'Plan', undefined, { FieldType: 'drop down' });
    const got = await as(h, o)('customfields.get', { SubscriberListID: listId });
    expect(got).toMatchObject({ Success: true, TotalFieldCount: 2 });
    expect(got.CustomFields).toEqual([
      { CustomFieldID: r.CustomFieldID, ListID: listId, FieldName: 'First name', FieldType: 'Single line', MergeTagAlias: 'FirstName', DefaultValue: 'friend' },
      { CustomFieldID: second, ListID: listId, FieldName: 'Plan', FieldType: 'Drop down', MergeTagAlias: '', DefaultValue: '' },
    ]);
  });

  it('answers its codes: 1 list id, 2 name, 3 type, 6 foreign list, 1000 alias taken or reserved, 1001 bad alias', async () => {
    const o = await owner(h);
    const other = await owner(h);
    const listId = await makeList(h, o);
    const theirs = await makeList(h, other);
    await makeField(h, o, listId, 'First', 'FirstName');
    const create = (extra: Record<string, unknown>) => as(h, o)('customfield.create', { SubscriberListID: listId, FieldName: 'F', ...extra });
    expect(await as(h, o)('customfield.create', { FieldName: 'F' })).toMatchObject({ ErrorCode: [1] });
    expect(await as(h, o)('customfield.create', { SubscriberListID: listId })).toMatchObject({ ErrorCode: [2] });
    expect(await create({ FieldType: 'Hologram' })).toMatchObject({ ErrorCode: [3] });
    expect(await as(h, o)('customfield.create', { SubscriberListID: theirs, FieldName: 'F' })).toMatchObject({ ErrorCode: [6] });
    expect(await create({ MergeTagAlias: 'firstname' })).toMatchObject({ ErrorCode: [1000] });
    expect(await create({ MergeTagAlias: 'EmailAddress' })).toMatchObject({ ErrorCode: [1000] });
    expect(await create({ MergeTagAlias: 'CustomField7' })).toMatchObject({ ErrorCode: [1000] });
    expect(await create({ MergeTagAlias: 'has space' })).toMatchObject({ ErrorCode: [1001] });
    expect(await create({ MergeTagAlias: '__proto__' })).toMatchObject({ ErrorCode: [1001] });
    // The same alias on another list is fine.
    expect(await as(h, o)('customfield.create', { SubscriberListID: await makeList(h, o), FieldName: 'F', MergeTagAlias: 'FirstName' })).toMatchObject({
      Success: true,
    });
  });

  it("customfields.get answers 1 without a list and 2 for another user's list", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const theirs = await makeList(h, other);
    await makeField(h, other, theirs, 'Secret');
    expect(await as(h, o)('customfields.get', {})).toMatchObject({ Success: false, ErrorCode: 1 });
    const r = await as(h, o)('customfields.get', { SubscriberListID: theirs });
    expect(r).toMatchObject({ Success: false, ErrorCode: 2 });
    expect(r.CustomFields).toBeUndefined();
  });

  it("customfield.delete removes fields and their values; 1 missing, 2 for another user's field", async () => {
    const o = await owner(h);
    const other = await owner(h);
    const listId = await makeList(h, o);
    const f1 = await makeField(h, o, listId, 'A');
    const f2 = await makeField(h, o, listId, 'B');
    const theirs = await makeField(h, other, await makeList(h, other), 'C');
    await addSubscriber(h, o, listId, 'v@example.com', { CustomFields: { [f1]: 'x', [f2]: 'y' } });
    expect(await as(h, o)('customfield.delete', {})).toMatchObject({ ErrorCode: 1 });
    expect(await as(h, o)('customfield.delete', { CustomFields: `${f1},${theirs}` })).toMatchObject({ ErrorCode: 2 });
    expect(await h.services.db('list_custom_fields').where({ id: theirs }).first()).toBeDefined();
    expect(await as(h, o)('customfield.delete', { CustomFieldID: f1 })).toMatchObject({ Success: true, ErrorText: '' });
    expect(await h.services.db('subscriber_values').where({ field_id: f1 }).first()).toBeUndefined();
    expect(await h.services.db('subscriber_values').where({ field_id: f2 }).first()).toMatchObject({ value: 'y' });
    const got = await as(h, o)('customfields.get', { ListID: listId });
    expect(got.CustomFields.map((f: any) => f.CustomFieldID)).toEqual([f2]);
  });
});
