import type { Knex } from 'knex';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

/**
 * A busy sender key is looked up once, not once per request in flight: requests that miss together share one
 * lookup, and a hit in the last half of the TTL refreshes the entry in the background, so the key does not expire
 * under load (at 50 connections every request in flight used to miss at each expiry and run the lookups). A key
 * disabled meanwhile is still refused within the TTL.
 */
// Long enough that a loaded machine still makes its requests inside the window the test needs (the last half of the
// TTL, before it runs out): at 400 ms, 160 ms of slack was all there was.
const TTL_MS = 3000;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ SENDER_AUTH_CACHE_MS: String(TTL_MS) });
});
afterAll(() => h.close());

/** 200 when the key is accepted, else the error code (this route answers HTTP 200 with `Errors` for a bad key). */
const status = async (key: string): Promise<number> => {
  const res = await h.request('GET', '/api/v1/emails', { headers: { Authorization: `Bearer ${key}` } });
  return res.body?.Errors?.[0]?.Code ?? res.status;
};

/** Counts the sender-key lookups `db` runs while `fn` does. */
async function keyLookups(db: Knex, fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const count = (q: { sql: string }) => {
    if (/from [`"]domain_api_keys[`"] where [`"]key_hash[`"]/.test(q.sql)) n += 1;
  };
  db.on('query', count);
  try {
    await fn();
  } finally {
    db.off('query', count);
  }
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('requests that find a sender key uncached at the same time share one lookup', async () => {
  const k = await senderSetup(h);
  let codes: number[] = [];
  const n = await keyLookups(h.services.db, async () => {
    codes = await Promise.all(Array.from({ length: 8 }, () => status(k.key)));
  });
  expect(codes).toEqual(new Array(8).fill(200));
  expect(n).toBe(1);
});

test('a key used in the last half of its TTL is refreshed in the background and a disabled one is then refused', async () => {
  const k = await senderSetup(h);
  // The entry is made between these two instants.
  const before = Date.now();
  expect(await status(k.key)).toBe(200);
  const cached = Date.now();
  await h.services.db('domain_api_keys').where({ id: k.keyId }).update({ status: 'Disabled' });
  await sleep(Math.max(0, cached + TTL_MS * 0.6 - Date.now()));
  // Still within the TTL: answered from the entry, and the refresh starts behind it.
  const lookups = await keyLookups(h.services.db, async () => {
    expect(await status(k.key)).toBe(200);
    await sleep(200);
  });
  expect(lookups).toBe(1);
  // The refresh found the key disabled and dropped the entry, before the TTL ran out (else expiry would explain it).
  expect(await status(k.key)).toBe(13);
  expect(Date.now() - before).toBeLessThan(TTL_MS);
});
