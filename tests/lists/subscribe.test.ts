import { Harness, startHarness } from '../helpers/harness';
import { addSubscriber, makeField, makeList, owner } from './fixtures';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const subscribe = (params: Record<string, unknown>) => h.call({ Command: 'subscriber.subscribe', ...params });
const unsubscribe = (params: Record<string, unknown>) => h.call({ Command: 'subscriber.unsubscribe', ...params });
const rowOf = (listId: number, email: string) => h.services.db('subscribers').where({ list_id: listId, email }).first();

describe('subscriber.subscribe (no auth)', () => {
  it('subscribes without credentials, storing CustomField<N> values and the IP', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const f = await makeField(h, o, listId, 'First', 'FirstName');
    const r = await subscribe({ ListID: String(listId), EmailAddress: 'Form@Example.com', IPAddress: '198.51.100.7', [`CustomField${f}`]: 'Fay' });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      SubscriberID: expect.any(Number),
      RedirectURL: '',
      Subscriber: { SubscriberID: r.SubscriberID, EmailAddress: 'form@example.com', SubscriptionStatus: 'Subscribed' },
    });
    expect(await rowOf(listId, 'form@example.com')).toMatchObject({ id: r.SubscriberID, status: 'Subscribed', subscription_ip: '198.51.100.7' });
    expect(await h.services.db('subscriber_values').where({ subscriber_id: r.SubscriberID, field_id: f }).first()).toMatchObject({ value: 'Fay' });
  });

  it('stores Opt-In Pending on a double opt-in list and subscribes to several lists at once', async () => {
    const o = await owner(h);
    const single = await makeList(h, o);
    const double = await makeList(h, o, { OptInMode: 'Double' });
    const r = await subscribe({ ListID: `${double},${single}`, EmailAddress: 'two@example.com', IPAddress: '198.51.100.8' });
    expect(r).toMatchObject({ Success: true, Subscriber: { SubscriptionStatus: 'Opt-In Pending' } });
    expect((await rowOf(double, 'two@example.com')).status).toBe('Opt-In Pending');
    expect((await rowOf(single, 'two@example.com')).status).toBe('Subscribed');
  });

  it("answers 4 for a disabled account's list, as for none, while unsubscribing from it still works", async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const member = await subscribe({ ListID: listId, EmailAddress: 'kept@example.com', IPAddress: '198.51.100.10' });
    expect(member.Success).toBe(true);
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: o.userId, AccountStatus: 'Disabled' });
    expect(await subscribe({ ListID: listId, EmailAddress: 'new@example.com', IPAddress: '198.51.100.10' })).toMatchObject({ Success: false, ErrorCode: 4 });
    expect(await rowOf(listId, 'new@example.com')).toBeUndefined();
    expect(await unsubscribe({ ListID: listId, EmailAddress: 'kept@example.com', IPAddress: '198.51.100.10' })).toMatchObject({ Success: true });
    expect((await rowOf(listId, 'kept@example.com')).status).toBe('Unsubscribed');
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: o.userId, AccountStatus: 'Enabled' });
    expect(await subscribe({ ListID: listId, EmailAddress: 'new@example.com', IPAddress: '198.51.100.10' })).toMatchObject({ Success: true });
  });

  it('answers 9 for an address already on the list and re-subscribes an unsubscribed one', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const params = { ListID: listId, EmailAddress: 'again@example.com', IPAddress: '198.51.100.9' };
    const first = await subscribe(params);
    expect(await subscribe(params)).toMatchObject({ Success: false, ErrorCode: 9 });
    await h.services.db('subscribers').where({ id: first.SubscriberID }).update({ status: 'Unsubscribed', unsubscription_date: Date.now() });
    const back = await subscribe(params);
    expect(back).toMatchObject({ Success: true, SubscriberID: first.SubscriberID, Subscriber: { SubscriptionStatus: 'Subscribed' } });
    expect((await rowOf(listId, 'again@example.com')).unsubscription_date).toBeNull();
  });

  it('stores a custom-field value of up to 65,535 UTF-8 bytes whole, and answers 8 for more (it was HTTP 500 on MariaDB)', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const f = await makeField(h, o, listId, 'Notes', 'Notes');
    const valueOf = async (id: number) => (await h.services.db('subscriber_values').where({ subscriber_id: id, field_id: f }).first()).value;
    const ascii = 'a'.repeat(65_535);
    const accented = 'é'.repeat(32_767); // 65,534 bytes
    for (const [email, value] of [
      ['ascii@example.com', ascii],
      ['accented@example.com', accented],
    ]) {
      const r = await subscribe({ ListID: listId, EmailAddress: email, IPAddress: '198.51.100.11', [`CustomField${f}`]: value });
      expect(r).toMatchObject({ Success: true, ErrorCode: 0 });
      expect(await valueOf(r.SubscriberID)).toBe(value);
    }
    // 60,000 UTF-16 units (under the old 65,000-character cap) but 120,000 bytes; and one byte over.
    for (const [email, value] of [
      ['emoji@example.com', '😀'.repeat(30_000)],
      ['over@example.com', `${'é'.repeat(32_767)}ab`],
    ]) {
      expect(await subscribe({ ListID: listId, EmailAddress: email, IPAddress: '198.51.100.11', [`CustomField${f}`]: value })).toMatchObject({
        Success: false,
        ErrorCode: 8,
      });
      expect(await rowOf(listId, email)).toBeUndefined();
    }
  });

  it('answers its scalar codes', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const ok = { ListID: listId, EmailAddress: 'x@example.com', IPAddress: '198.51.100.10' };
    expect(await subscribe({ ...ok, ListID: undefined })).toMatchObject({ Success: false, ErrorCode: 1 });
    expect(await subscribe({ ...ok, EmailAddress: undefined })).toMatchObject({ ErrorCode: 2 });
    expect(await subscribe({ ...ok, IPAddress: '' })).toMatchObject({ ErrorCode: 3 });
    expect(await subscribe({ ...ok, ListID: 999999 })).toMatchObject({ ErrorCode: 4 });
    expect(await subscribe({ ...ok, ListID: `${listId},abc` })).toMatchObject({ ErrorCode: 4 });
    expect(await subscribe({ ...ok, EmailAddress: 'nope' })).toMatchObject({ ErrorCode: 5 });
    expect(await subscribe({ ...ok, CustomField999999: 'x' })).toMatchObject({ ErrorCode: 8 });
    expect(await subscribe({ ...ok, IPAddress: 'not-an-ip' })).toMatchObject({ ErrorCode: 10 });
    expect(await rowOf(listId, 'x@example.com')).toBeUndefined();
  });
});

describe('subscriber.unsubscribe (no auth)', () => {
  it('unsubscribes ListID + EmailAddress, records the IP and no event', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const id = await addSubscriber(h, o, listId, 'leave@example.com');
    const r = await unsubscribe({ ListID: listId, EmailAddress: 'LEAVE@example.com', IPAddress: '203.0.113.5' });
    expect(r).toEqual({ Success: true, ErrorCode: 0, RedirectURL: '' });
    expect(await rowOf(listId, 'leave@example.com')).toMatchObject({ id, status: 'Unsubscribed', unsubscription_ip: '203.0.113.5' });
    expect(await h.services.db('events').where({ user_id: o.userId }).first()).toBeUndefined();
    expect(await unsubscribe({ ListID: listId, EmailAddress: 'leave@example.com', IPAddress: '203.0.113.5' })).toMatchObject({ Success: false, ErrorCode: 9 });
  });

  it('refuses a SubscriberID alone (3) and a SubscriberID that does not match the address (7)', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    const a = await addSubscriber(h, o, listId, 'a@example.com');
    const b = await addSubscriber(h, o, listId, 'b@example.com');
    expect(await unsubscribe({ ListID: listId, SubscriberID: a, IPAddress: '203.0.113.5' })).toMatchObject({ ErrorCode: 3 });
    expect(await unsubscribe({ ListID: listId, SubscriberID: b, EmailAddress: 'a@example.com', IPAddress: '203.0.113.5' })).toMatchObject({ ErrorCode: 7 });
    expect((await rowOf(listId, 'a@example.com')).status).toBe('Subscribed');
    expect(await unsubscribe({ ListID: listId, SubscriberID: a, EmailAddress: 'a@example.com', IPAddress: '203.0.113.5' })).toMatchObject({ Success: true });
  });

  it('changes nothing with Preview=1', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    await addSubscriber(h, o, listId, 'peek@example.com');
    expect(await unsubscribe({ ListID: listId, EmailAddress: 'peek@example.com', IPAddress: '203.0.113.5', Preview: 1 })).toMatchObject({ Success: true });
    expect((await rowOf(listId, 'peek@example.com')).status).toBe('Subscribed');
  });

  it('answers its scalar codes and refuses RulesJSON', async () => {
    const o = await owner(h);
    const listId = await makeList(h, o);
    await addSubscriber(h, o, listId, 'stay@example.com');
    const ok = { ListID: listId, EmailAddress: 'stay@example.com', IPAddress: '203.0.113.5' };
    expect(await unsubscribe({ ...ok, ListID: undefined })).toMatchObject({ ErrorCode: 1 });
    expect(await unsubscribe({ ...ok, IPAddress: undefined })).toMatchObject({ ErrorCode: 2 });
    expect(await unsubscribe({ ...ok, EmailAddress: undefined })).toMatchObject({ ErrorCode: 3 });
    expect(await unsubscribe({ ...ok, ListID: 999999 })).toMatchObject({ ErrorCode: 4 });
    expect(await unsubscribe({ ...ok, EmailAddress: 'bad' })).toMatchObject({ ErrorCode: 6 });
    expect(await unsubscribe({ ...ok, EmailAddress: 'stranger@example.com' })).toMatchObject({ ErrorCode: 7 });
    expect(await unsubscribe({ ...ok, RulesJSON: '[[{"type":"fields"}]]', RulesOperator: 'and' })).toMatchObject({ ErrorCode: 7 });
    expect(await unsubscribe({ ...ok, IPAddress: 'x' })).toMatchObject({ ErrorCode: 10 });
    expect((await rowOf(listId, 'stay@example.com')).status).toBe('Subscribed');
  });
});

describe('rate limit on the no-auth doors', () => {
  it('answers 429 after API_RATE_LIMIT_PER_MINUTE requests from one address', async () => {
    const limited = await startHarness({ API_RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const params = { Command: 'subscriber.subscribe', ListID: 999999, EmailAddress: 'r@example.com', IPAddress: '198.51.100.1' };
      expect(await limited.call(params)).toMatchObject({ ErrorCode: 4 });
      expect(await limited.call(params)).toMatchObject({ ErrorCode: 4 });
      expect(await limited.call(params)).toMatchObject({ Success: false, ErrorCode: 429 });
    } finally {
      await limited.close();
    }
  });

  it('counts an IPv6 client by its /64: another address of it is still limited, the next /64 is not', async () => {
    const limited = await startHarness({ API_RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const params = { Command: 'subscriber.subscribe', ListID: 999999, EmailAddress: 'r@example.com', IPAddress: '198.51.100.1' };
      // TRUST_PROXY is loopback: the test's proxy header names the client.
      const from = async (ip: string) => (await limited.request('POST', '/api.php', { headers: { 'X-Forwarded-For': ip }, body: params })).body;
      expect(await from('2001:db8:7:1::1')).toMatchObject({ ErrorCode: 4 });
      expect(await from('2001:db8:7:1::2')).toMatchObject({ ErrorCode: 4 });
      expect(await from('2001:db8:7:1:ffff:ffff:ffff:ffff')).toMatchObject({ Success: false, ErrorCode: 429 });
      expect(await from('2001:db8:7:2::1')).toMatchObject({ ErrorCode: 4 });
    } finally {
      await limited.close();
    }
  });
});
