/**
 * account.overview's Contacts (GET /api/v1/stats: `contacts`), counted in rounds of CONTACT_COUNT_PAGE addresses per
 * list (here 2, so every account below takes several rounds) and, with CONTACT_COUNT_LIVE_MS=0, reused after the
 * first count and recounted in the background once stale (src/lists/contact-count.ts); GET /api/v1/contacts's total
 * likewise. Each test has its own account, so its first read always counts.
 *
 * The three tests that wait for a reused count to go stale (2 s at least, src/store/cost-bounded.ts) run side by side
 * as one concurrent group: each reads only its own account and list. The round-counting test listens to every query,
 * so it stays out of the group (jest runs the group as one step, before or after the file's other tests).
 */
import { countContacts } from '../../src/lists/contact-count';
import { Harness, startHarness } from '../helpers/harness';
import { waitFor } from '../helpers/sink';
import { addSubscriber, as, bulkSubscribers, makeList, owner, Owner } from './fixtures';

/** A recount waits for its count to be 2 s old (src/store/cost-bounded.ts): read every 250 ms, not 25, while it does. */
const RECOUNT_POLL_MS = 250;

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ CONTACT_COUNT_PAGE: '2', CONTACT_COUNT_LIVE_MS: '0' });
});
afterAll(async () => {
  await h.close();
});

const contacts = async (o: Owner): Promise<number> => {
  const r = await as(h, o)('account.overview');
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.Contacts;
};

/** The one-statement count the gateway used before, as the oracle. */
async function distinctAddresses(userId: number): Promise<number> {
  const [row] = await h.services.db('subscribers as s').join('lists as l', 'l.id', 's.list_id').where('l.user_id', userId).countDistinct({ n: 's.email' });
  return Number((row as { n: unknown }).n);
}

it('an account without lists has no contacts', async () => {
  expect(await contacts(await owner(h))).toBe(0);
});

it('counts each address once, however many of the lists hold it, across rounds; other accounts are not counted', async () => {
  const o = await owner(h);
  const [a, b, c] = [await makeList(h, o), await makeList(h, o), await makeList(h, o)];
  for (const e of ['a', 'b', 'c', 'd', 'e']) await addSubscriber(h, o, a, `${e}@cc.test`);
  for (const e of ['b', 'd', 'f', 'g']) await addSubscriber(h, o, b, `${e}@cc.test`);
  for (const e of ['a', 'z'])
    await addSubscriber(h, o, c, `${e}@cc.test`, { Status: 'Unsubscribed', UnsubscriptionDate: '2026-01-03 03:04:05', UnsubscriptionIP: '192.0.2.11' }); // members still, as before
  const other = await owner(h);
  const theirs = await makeList(h, other);
  for (const e of ['a', 'y', 'x']) await addSubscriber(h, other, theirs, `${e}@cc.test`);
  expect(await contacts(o)).toBe(8); // a b c d e f g z
  expect(await contacts(other)).toBe(3);
});

it('one list: each member counted', async () => {
  const o = await owner(h);
  const list = await makeList(h, o);
  for (const e of ['p', 'q', 'r', 's', 't']) await addSubscriber(h, o, list, `${e}@one.test`);
  expect(await contacts(o)).toBe(5);
});

it('matches one COUNT(DISTINCT) over interleaved, overlapping lists of a few hundred members', async () => {
  const o = await owner(h);
  const lists = [await makeList(h, o), await makeList(h, o), await makeList(h, o)];
  await bulkSubscribers(h.services.db, lists[0], 150, 'm', 'mix.test'); // m0..m149
  await bulkSubscribers(h.services.db, lists[1], 120, 'm', 'mix.test'); // m0..m119: all on the first list too
  await bulkSubscribers(h.services.db, lists[2], 90, 'n', 'mix.test'); // n0..n89: sorts after every m
  await bulkSubscribers(h.services.db, lists[2], 40, 'l', 'mix.test'); // l0..l39: sorts before every m
  const expected = await distinctAddresses(o.userId);
  expect(expected).toBe(150 + 90 + 40);
  expect(await contacts(o)).toBe(expected);
});

it('no round counts more than a page of any list: the bounds are read again as the walk passes them', async () => {
  const o = await owner(h);
  const lists = [await makeList(h, o), await makeList(h, o), await makeList(h, o)];
  await bulkSubscribers(h.services.db, lists[0], 60, 'a', 'bound.test');
  await bulkSubscribers(h.services.db, lists[1], 60, 'a', 'bound.test'); // the same 60 addresses
  await bulkSubscribers(h.services.db, lists[2], 30, 'b', 'bound.test');
  const rounds: number[] = [];
  const seen = (rows: unknown, q: { sql: string }) => {
    if (/^select count\(distinct/i.test(q.sql)) rounds.push(Number((rows as { n: unknown }[])[0].n));
  };
  h.services.db.on('query-response', seen);
  try {
    expect(await countContacts(h.services.db, o.userId, 4)).toBe(90);
  } finally {
    h.services.db.removeListener('query-response', seen);
  }
  expect(rounds.length).toBeGreaterThan(10);
  expect(Math.max(...rounds)).toBeLessThanOrEqual(3 * 4); // three lists, four addresses of each at most
});

it.concurrent('reuses a costly count, then recounts it in the background once stale', async () => {
  const o = await owner(h);
  const list = await makeList(h, o);
  await addSubscriber(h, o, list, 'first@stale.test');
  expect(await contacts(o)).toBe(1);
  await addSubscriber(h, o, list, 'second@stale.test');
  // Answered at once from the count it has (every count is "costly" with CONTACT_COUNT_LIVE_MS=0) ...
  expect(await contacts(o)).toBe(1);
  // ... and, once that is over 2 s old, recounted behind the next read.
  await waitFor(async () => (await contacts(o)) === 2, 15_000, 'the recount to show the new member', RECOUNT_POLL_MS);
});

it.concurrent("GET /api/v1/contacts's total is reused as the count is, squared with the page read afresh", async () => {
  const o = await owner(h);
  const list = await makeList(h, o);
  for (const e of ['a', 'b', 'c']) await addSubscriber(h, o, list, `${e}@total.test`);
  const listed = async (page: number) => {
    const r = await as(h, o)('contacts.list', { limit: 2, page });
    if (!r.Success) throw new Error(JSON.stringify(r));
    return { total: r.total, emails: r.contacts.map((c: { email: string }) => c.email[0]).join('') };
  };
  expect(await listed(1)).toEqual({ total: 3, emails: 'ab' });
  await addSubscriber(h, o, list, 'd@total.test');
  // A full first page says nothing against the reused total ...
  expect(await listed(1)).toEqual({ total: 3, emails: 'ab' });
  // ... a full second page shows at least four, a short third page ends the listing exactly; an empty page past the
  // end keeps the reused total (no more than its offset).
  expect(await listed(2)).toEqual({ total: 4, emails: 'cd' });
  await addSubscriber(h, o, list, 'e@total.test');
  expect(await listed(3)).toEqual({ total: 5, emails: 'e' });
  await addSubscriber(h, o, list, 'f@total.test');
  expect(await listed(4)).toEqual({ total: 3, emails: '' });
  expect(await listed(5)).toEqual({ total: 3, emails: '' });
  await waitFor(async () => (await listed(1)).total === 6, 15_000, 'the recount to show every member', RECOUNT_POLL_MS);
  expect(await listed(4)).toEqual({ total: 6, emails: '' });
});

it('an account with more lists than SQLite takes bound values in one statement still gets its count, its contacts and its lists', async () => {
  const o = await owner(h);
  const first = await makeList(h, o);
  await addSubscriber(h, o, first, 'one@many.test');
  // The lists are the fixture, written in bulk as copies of a real one; the doors under test are the two reads.
  const db = h.services.db;
  const { id: _id, ...row } = (await db('lists').where({ id: first }).first()) as Record<string, unknown>;
  for (let i = 0; i < 33_000; i += 500) await db('lists').insert(Array.from({ length: 500 }, () => ({ ...row })));
  const lists = (await db('lists').where({ user_id: o.userId }).pluck('id')).map(Number);
  expect(lists.length).toBe(33_001);
  await addSubscriber(h, o, lists[lists.length - 1], 'one@many.test');
  await addSubscriber(h, o, lists[lists.length - 1], 'two@many.test');
  expect(await contacts(o)).toBe(2);
  const r = await as(h, o)('contacts.list');
  expect({ success: r.Success, total: r.total, emails: r.contacts?.map((c: { email: string }) => c.email) }).toEqual({
    success: true,
    total: 3,
    emails: ['one@many.test', 'one@many.test', 'two@many.test'],
  });
  // lists.get's RecordsPerRequest=0 (all) counts members per list across every one of them.
  const all = await as(h, o)('lists.get', { RecordsPerRequest: 0 });
  expect({ success: all.Success, n: all.Lists?.length, last: all.Lists?.[all.Lists.length - 1]?.SubscriberCount }).toEqual({
    success: true,
    n: 33_001,
    last: 2,
  });
}, 60_000);

it.concurrent("subscribers.get's TotalSubscribers is reused as contacts.list's total is, squared with the page read afresh", async () => {
  const o = await owner(h);
  const list = await makeList(h, o);
  for (const e of ['a', 'b', 'c']) await addSubscriber(h, o, list, `${e}@subs.test`);
  const page = async (RecordsFrom: number) => {
    const r = await as(h, o)('subscribers.get', { SubscriberListID: list, RecordsPerRequest: 2, RecordsFrom, OrderField: 'EmailAddress' });
    if (!r.Success) throw new Error(JSON.stringify(r));
    return { total: r.TotalSubscribers, emails: r.Subscribers.map((s: { EmailAddress: string }) => s.EmailAddress[0]).join('') };
  };
  expect(await page(0)).toEqual({ total: 3, emails: 'ab' });
  await addSubscriber(h, o, list, 'd@subs.test');
  expect(await page(0)).toEqual({ total: 3, emails: 'ab' });
  expect(await page(2)).toEqual({ total: 4, emails: 'cd' });
  await addSubscriber(h, o, list, 'e@subs.test');
  expect(await page(4)).toEqual({ total: 5, emails: 'e' });
  // Another segment is another count: exact on its first read.
  const active = await as(h, o)('subscribers.get', { SubscriberListID: list, SubscriberSegment: 'Active', RecordsPerRequest: 2 });
  expect(active.TotalSubscribers).toBe(5);
  await waitFor(async () => (await page(0)).total === 5, 15_000, 'the recount to show every member', RECOUNT_POLL_MS);
});
