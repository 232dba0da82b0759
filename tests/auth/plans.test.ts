/**
 * Plans: an admin sets Starter | Professional | Enterprise with user.create / user.update; user.get and
 * user.current show it. Account-key requests count against the plan's per-minute limit, the platform spec's only one
 * (429 with Retry-After past it); sender keys keep their own per-route limit.
 */
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PLANS } from '../../src/accounts/plans';
import { createUser, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
/**
 * The long test's own listener, closed after the file as well: a test past its timeout runs on, and its loop of 2,100
 * requests went on over this listener into the worker's next two files (seen in-band at load 10-27), then held the
 * worker past jest's 2 s grace had the file been its last. Closed, the loop's next request fails and it ends.
 */
let listener: Server | null = null;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  if (listener?.listening) {
    listener.closeAllConnections();
    await new Promise((resolve) => listener!.close(resolve));
  }
  await h.services.queues.close();
  await h.close();
});

const admin = (params: Record<string, unknown>) => h.call({ AdminAPIKey: h.adminKey, ...params });

async function accountKey(sessionId: string): Promise<string> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'plans', KeyType: 'account' });
  return r.APIKey.APIKey;
}

const lookup = (key: string) => h.request('GET', '/api/v1/email/00000000-0000-0000-0000-000000000000', { headers: { Authorization: `Bearer ${key}` } });

describe('the Plan user setting', () => {
  it('defaults to Starter, is set by user.create and user.update in any letter case, and shows in user.get and user.current', async () => {
    const plain = await createUser(h);
    expect((await admin({ Command: 'user.get', UserID: plain.userId })).UserInfo.Plan).toBe('Starter');
    const pro = await createUser(h, { Plan: 'professional' });
    expect((await admin({ Command: 'user.get', UserID: pro.userId })).UserInfo.Plan).toBe('Professional');
    const updated = await admin({ Command: 'user.update', UserID: pro.userId, Plan: 'Enterprise' });
    expect(updated.UserInfo.Plan).toBe('Enterprise');
    expect((await h.call({ Command: 'user.current', SessionID: pro.sessionId })).UserInfo.Plan).toBe('Enterprise');
  });

  it('answers [21] for a plan that does not exist', async () => {
    const u = await createUser(h);
    expect(await admin({ Command: 'user.update', UserID: u.userId, Plan: 'Platinum' })).toMatchObject({
      Success: false,
      ErrorCode: [21],
      ErrorText: ['Invalid Plan (Starter, Professional or Enterprise)'],
    });
  });
});

describe('plan request limits for account keys', () => {
  it('refuses the Starter plan’s 101st request in a minute with 429 and Retry-After, across the account’s keys', async () => {
    const s = await senderSetup(h);
    const [a, b] = [await accountKey(s.sessionId), await accountKey(s.sessionId)];
    for (let i = 0; i < PLANS.Starter.perMinute; i++) expect((await lookup(i % 2 ? a : b)).status).not.toBe(429);
    const refused = await lookup(a);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(refused.body.Errors[0]).toEqual({ Code: 429, Message: expect.stringMatching(/Starter plan allows 100 requests per minute/) });
    // The account's sender key is not counted against the plan.
    expect((await lookup(s.key)).status).not.toBe(429);
  });

  it('never stops a client that keeps to its minute: no hourly or daily cap the spec does not name', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(s.sessionId);
    const minute = h.services.limits.limit('plan:perMinute', PLANS.Starter.perMinute, 60);
    // 21 minutes at the Starter rate, each minute's window ended by hand: 2,100 requests (an hourly cap of 2,000,
    // as there once was, refused the last hundred for up to 40 minutes). Over one listening server and kept-alive
    // connections: a supertest server per request made this the suite's slowest test under load.
    const server = (listener = h.app.listen(0, '127.0.0.1'));
    // Idle connections kept 65 s, as the api's own server keeps them (node's 5 s default): the client reuses them between
    // batches, and a batch that outlasts 5 s on a loaded run met a connection closed as it sent (read ECONNRESET).
    server.keepAliveTimeout = 65_000;
    await new Promise((resolve) => server.once('listening', resolve));
    // A lookup of an id that is no id: the minute counts it like any other request (checked below), and it costs a
    // little less CPU than one that reads the store (one statement since find-message.ts): re-measured 2026-12-04, this
    // loop's CPU over 2,100 requests each, 1.0 against 1.2 ms a request (load 4; 1.3 against 1.6 at load 9).
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/email/x`;
    // node's http client on kept-alive sockets rather than fetch: the same requests at about 60 % of fetch's CPU
    // (measured alternately at load 15, 500 requests each: fetch 3.7 and 2.5 s, http.get 2.2 and 1.6 s).
    const agent = new http.Agent({ keepAlive: true, maxSockets: PLANS.Starter.perMinute });
    const status = () =>
      new Promise<number>((resolve, reject) => {
        http
          .get(url, { agent, headers: { Authorization: `Bearer ${key}` } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          })
          .on('error', reject);
      });
    try {
      for (let m = 0; m < 21; m++) {
        const codes = await Promise.all(Array.from({ length: PLANS.Starter.perMinute }, status));
        expect(codes.filter((c) => c === 429)).toEqual([]);
        await minute.reset(`u${s.userId}`);
      }
      // Those requests were counted: a full minute's worth, then one more, is refused.
      await Promise.all(Array.from({ length: PLANS.Starter.perMinute }, status));
      expect(await status()).toBe(429);
      await minute.reset(`u${s.userId}`);
    } finally {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    // The account stats show what the minute allows in an hour and a day.
    const stats = await h.request('GET', '/email/v1/account/stats', { headers: { Authorization: `Bearer ${key}` } });
    expect(stats.body.data.rate_limits).toEqual({ per_minute: 100, per_hour: 6000, per_day: 144000 });
    // 2,100 requests: 5 s alone, past jest's 30 s in a full run beside the browser tests (seen twice).
  }, 120_000);

  it('a bigger plan raises the minute', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(s.sessionId);
    await h.services.limits.limit('plan:perMinute', PLANS.Starter.perMinute, 60).consume(`u${s.userId}`, PLANS.Starter.perMinute);
    expect((await lookup(key)).status).toBe(429);
    await admin({ Command: 'user.update', UserID: s.userId, Plan: 'Professional' });
    expect((await lookup(key)).body.Errors[0].Code).toBe(4);
    await h.services.limits.limit('plan:perMinute', PLANS.Professional.perMinute, 60).consume(`u${s.userId}`, PLANS.Professional.perMinute);
    expect((await lookup(key)).body.Errors[0].Message).toMatch(/500 requests per minute/);
  });
});
