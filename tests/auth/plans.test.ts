/**
 * Plans: an admin sets Starter | Professional | Enterprise with user.create / user.update; user.get and
 * user.current show it. Account-key requests count against the plan's per-minute, per-hour and per-day limits
 * (429 with Retry-After past one); sender keys keep their own per-route limit.
 */
import supertest from 'supertest';
import { PLANS } from '../../src/accounts/plans';
import { createUser, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

const admin = (params: Record<string, unknown>) => h.call({ AdminAPIKey: h.adminKey, ...params });

async function accountKey(sessionId: string): Promise<string> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'plans', KeyType: 'account' });
  return r.APIKey.APIKey;
}

const lookup = (key: string) => supertest(h.app).get('/api/v1/email/00000000-0000-0000-0000-000000000000').set('Authorization', `Bearer ${key}`);

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
    // Refused requests are not served, so the hour and the day do not count them: 100 each, not 130.
    for (let i = 0; i < 30; i++) expect((await lookup(a)).status).toBe(429);
    for (const [field, sec] of [
      ['perHour', 3600],
      ['perDay', 86_400],
    ] as const) {
      expect(await h.services.limits.limit(`plan:${field}`, PLANS.Starter[field], sec).left(`u${s.userId}`)).toBe(PLANS.Starter[field] - 100);
    }
    // The account's sender key is not counted against the plan.
    expect((await supertest(h.app).get('/api/v1/email/00000000-0000-0000-0000-000000000000').set('Authorization', `Bearer ${s.key}`)).status).not.toBe(429);
  });

  it('counts the hourly and daily windows too, and a bigger plan raises them', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(s.sessionId);
    // Spend all but one of this hour's Starter requests directly in the limiter the door uses.
    await h.services.limits.limit('plan:perHour', PLANS.Starter.perHour, 3600).consume(`u${s.userId}`, PLANS.Starter.perHour - 1);
    expect((await lookup(key)).body.Errors[0].Code).toBe(4);
    const refused = await lookup(key);
    expect(refused.status).toBe(429);
    expect(refused.body.Errors[0].Message).toMatch(/2000 requests per hour/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(60);
    await admin({ Command: 'user.update', UserID: s.userId, Plan: 'Professional' });
    expect((await lookup(key)).body.Errors[0].Code).toBe(4);
    await h.services.limits.limit('plan:perDay', PLANS.Professional.perDay, 86_400).consume(`u${s.userId}`, PLANS.Professional.perDay);
    expect((await lookup(key)).body.Errors[0].Message).toMatch(/100000 requests per day/);
  });
});
