import supertest from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import type { Services } from '../../src/command';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { buildServices, closeServices } from '../../src/services';
import { Store } from '../../src/store/store';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

/**
 * The credential caches belong to a Services' store (src/store/), not to the module: two apps built in one process
 * on the same database (as two processes would be) keep their own entries, a management command run through one
 * forgets only its own, and each cache holds at most its bound, dropping the least recently used entry.
 */
let h: Harness;
let other: Services;
let appB: Express;

beforeAll(async () => {
  h = await startHarness({ SENDER_AUTH_CACHE_MS: '60000' });
  other = buildServices(loadConfig(h.env), createLogger('error', true));
  appB = createApp(other).app;
});
afterAll(async () => {
  await closeServices(other);
  await h.close();
});

/** 200 when the key is accepted, else the error code (this route answers HTTP 200 with `Errors` for a bad key). */
const status = async (app: Express, key: string): Promise<number> => {
  const res = await supertest(app).get('/api/v1/emails').set('Authorization', `Bearer ${key}`);
  return res.body?.Errors?.[0]?.Code ?? res.status;
};

/** Disables a sender key in the database, behind every app's back (as another process would). */
async function disableBehindTheApi(keyId: number): Promise<void> {
  await h.services.db('domain_api_keys').where({ id: keyId }).update({ status: 'Disabled' });
}

test('a sender key cached by one app is not seen by another, and a command run through one empties only its caches', async () => {
  const k = await senderSetup(h);
  const second = await senderSetup(h);
  expect(await status(h.app, k.key)).toBe(200); // now cached by app A only
  await disableBehindTheApi(k.keyId);
  // App B never looked the key up: it reads the disabled row, not A's entry.
  expect(await status(appB, k.key)).toBe(13);
  // App A still answers from its entry, for the TTL, as another process would.
  expect(await status(h.app, k.key)).toBe(200);
  // A management command through app B forgets B's caches, not A's.
  expect(await status(appB, second.key)).toBe(200);
  const del = await supertest(appB).post('/api.php').send({ Command: 'emailgateway.deleteapi', SessionID: second.sessionId, APIKeyID: second.keyId });
  expect(del.body.Success).toBe(true);
  expect(await status(appB, second.key)).toBe(13);
  expect(await status(h.app, k.key)).toBe(200);
  // A management command through app A empties A's caches at once.
  expect((await h.call({ Command: 'emailgateway.getdomains', SessionID: k.sessionId })).Success).toBe(true);
  expect(await status(h.app, k.key)).toBe(13);
});

test('each credential cache is bounded: past its size the least recently used entry is dropped', async () => {
  const keys = [await senderSetup(h), await senderSetup(h), await senderSetup(h)];
  const small = buildServices(loadConfig(h.env), createLogger('error', true));
  try {
    small.store = new Store(small.db, { credentialTtlMs: 60_000, maxCredentials: 2 });
    const app = createApp(small).app;
    for (const k of keys) expect(await status(app, k.key)).toBe(200);
    expect(small.store.credentials.senders.size).toBe(2);
    for (const k of keys) await disableBehindTheApi(k.keyId);
    // The first key was dropped to make room for the third: it is looked up again and refused.
    expect(await status(app, keys[0].key)).toBe(13);
    expect(await status(app, keys[1].key)).toBe(200);
    expect(await status(app, keys[2].key)).toBe(200);
  } finally {
    await closeServices(small);
  }
});
