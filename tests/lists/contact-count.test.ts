/**
 * account.overview's Contacts (GET /api/v1/stats: `contacts`), counted in rounds of CONTACT_COUNT_PAGE addresses per
 * list (here 2, so every account below takes several rounds) and, with CONTACT_COUNT_LIVE_MS=0, reused after the
 * first count and recounted in the background once stale (src/lists/contact-count.ts); GET /api/v1/contacts's total
 * likewise. Each test has its own account, so its first read always counts.
 */
import { countContacts } from '../../src/lists/contact-count';
import { Harness, startHarness } from '../helpers/harness';
import { waitFor } from '../helpers/sink';
import { addSubscriber, as, bulkSubscribers, makeList, owner, Owner } from './fixtures';

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

it('reuses a costly count, then recounts it in the background once stale', async () => {
  const o = await owner(h);
  const list = await makeList(h, o);
  await addSubscriber(h, o, list, 'first@stale.test');
  expect(await contacts(o)).toBe(1);
  await addSubscriber(h, o, list, 'second@stale.test');
  // Answered at once from the count it has (every count is "costly" with CONTACT_COUNT_LIVE_MS=0) ...
  expect(await contacts(o)).toBe(1);
  // ... and, once that is over 2 s old, recounted behind the next read.
  await waitFor(async () => (await contacts(o)) === 2, 15_000, 'the recount to show the new member');
});

it("GET /api/v1/contacts's total is reused as the count is, while its page is read afresh", async () => {
  const o = await owner(h);
  const list = await makeList(h, o);
  await addSubscriber(h, o, list, 'first@total.test');
  const listed = async () => {
    const r = await as(h, o)('contacts.list');
    if (!r.Success) throw new Error(JSON.stringify(r));
    return { total: r.total, emails: r.contacts.map((c: { email: string }) => c.email) };
  };
  expect(await listed()).toEqual({ total: 1, emails: ['first@total.test'] });
  await addSubscriber(h, o, list, 'second@total.test');
  expect(await listed()).toEqual({ total: 1, emails: ['first@total.test', 'second@total.test'] });
  await waitFor(async () => (await listed()).total === 2, 15_000, 'the recount to show the new member');
});
