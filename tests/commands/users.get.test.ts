import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
/** Users made in beforeAll, in creation (id) order. Nothing else in this file creates users. */
let made: { userId: number; username: string }[] = [];

beforeAll(async () => {
  h = await startHarness();
  const firstNames = ['Alice', 'Bob', 'Carol', '100%', '1000', 'Dave'];
  made = [];
  for (const FirstName of firstNames) made.push(await createUser(h, { FirstName }));
  const disabled = await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: made[5].userId, AccountStatus: 'Disabled' });
  if (!disabled.Success) throw new Error(JSON.stringify(disabled));
});
afterAll(async () => {
  await h.close();
});

function list(params: Record<string, unknown> = {}): Promise<any> {
  return h.call({ Command: 'users.get', AdminAPIKey: h.adminKey, ...params });
}

describe('users.get', () => {
  it('answers every user with TotalUserCount, in id order', async () => {
    const r = await list();
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, TotalUserCount: 6 });
    expect(r.Users.map((u: any) => u.UserID)).toEqual(made.map((u) => u.userId));
    expect(r.Users[0]).toEqual({
      UserID: made[0].userId,
      RelUserGroupID: 1,
      Username: made[0].username,
      EmailAddress: `${made[0].username}@example.com`,
      FirstName: 'Alice',
      LastName: '',
      CompanyName: '',
      TimeZone: 'UTC',
      Language: 'en',
      AccountStatus: 'Enabled',
      ReputationLevel: 'Trusted',
      Verified: 1,
      PhoneVerified: 0,
      AvailableCredits: 0,
      LimitEmailGatewaySenderDomains: '0',
      LimitEmailSendPerPeriod: '0',
      LimitEmailSendPerDay: '0',
      Plan: 'Starter',
      CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
      DeletionStartedAt: null,
    });
    expect(JSON.stringify(r)).not.toMatch(/password/i);
  });

  it('pages with RecordsPerRequest and RecordsFrom; TotalUserCount stays the full count', async () => {
    const page1 = await list({ RecordsPerRequest: 2, RecordsFrom: 0 });
    const page2 = await list({ RecordsPerRequest: 2, RecordsFrom: 2 });
    const page4 = await list({ RecordsPerRequest: 2, RecordsFrom: 6 });
    expect(page1.TotalUserCount).toBe(6);
    expect(page1.Users.map((u: any) => u.UserID)).toEqual([made[0].userId, made[1].userId]);
    expect(page2.TotalUserCount).toBe(6);
    expect(page2.Users.map((u: any) => u.UserID)).toEqual([made[2].userId, made[3].userId]);
    expect(page4).toMatchObject({ Success: true, TotalUserCount: 6, Users: [] });
  });

  it('treats RecordsPerRequest 0 as all', async () => {
    const r = await list({ RecordsPerRequest: 0, RecordsFrom: 1 });
    expect(r.Users).toHaveLength(5);
  });

  it('answers 1 for a RecordsPerRequest above 1000 and 2 for a negative RecordsFrom', async () => {
    expect(await list({ RecordsPerRequest: 1001 })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await list({ RecordsFrom: -1 })).toMatchObject({ Success: false, ErrorCode: [2] });
  });

  it('searches username, email and name', async () => {
    const byName = await list({ Search: 'carol' });
    expect(byName).toMatchObject({ Success: true, TotalUserCount: 1 });
    expect(byName.Users[0].UserID).toBe(made[2].userId);
    const byUsername = await list({ Search: made[1].username });
    expect(byUsername.Users.map((u: any) => u.UserID)).toEqual([made[1].userId]);
    const byEmail = await list({ Search: `${made[0].username}@` });
    expect(byEmail.Users.map((u: any) => u.UserID)).toEqual([made[0].userId]);
    const none = await list({ Search: 'no-such-user-anywhere' });
    expect(none).toMatchObject({ Success: true, TotalUserCount: 0, Users: [] });
  });

  it('matches % and _ in Search literally', async () => {
    const pct = await list({ Search: '100%' });
    expect(pct.Users.map((u: any) => u.FirstName)).toEqual(['100%']);
    expect(pct.TotalUserCount).toBe(1);
    const underscore = await list({ Search: 'Ca_ol' });
    expect(underscore).toMatchObject({ TotalUserCount: 0, Users: [] });
  });

  it('filters by AccountStatus', async () => {
    const disabled = await list({ AccountStatus: 'Disabled' });
    expect(disabled).toMatchObject({ Success: true, TotalUserCount: 1 });
    expect(disabled.Users.map((u: any) => u.UserID)).toEqual([made[5].userId]);
    const enabled = await list({ AccountStatus: 'Enabled' });
    expect(enabled.TotalUserCount).toBe(5);
    expect(enabled.Users.every((u: any) => u.AccountStatus === 'Enabled')).toBe(true);
  });

  it('combines Search, AccountStatus and paging', async () => {
    const r = await list({ Search: 'example.com', AccountStatus: 'Enabled', RecordsPerRequest: 1, RecordsFrom: 1 });
    expect(r.TotalUserCount).toBe(5);
    expect(r.Users.map((u: any) => u.UserID)).toEqual([made[1].userId]);
  });

  it('answers 4 for an unknown AccountStatus', async () => {
    expect(await list({ AccountStatus: 'Paused' })).toMatchObject({ Success: false, ErrorCode: [4] });
  });

  it('answers 99998 for a user SessionID', async () => {
    const login = await h.call({ Command: 'user.login', Username: made[0].username, Password: 'correct horse battery' });
    const r = await h.call({ Command: 'users.get', SessionID: login.SessionID });
    expect(r).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
  });
});

describe('user.get', () => {
  it('answers one user by UserID', async () => {
    const r = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: made[2].userId });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, UserInfo: { UserID: made[2].userId, Username: made[2].username, FirstName: 'Carol' } });
  });

  it('answers 2 for an unknown UserID', async () => {
    const r = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: 999999 });
    expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'User not found' });
  });

  it('answers [1] when UserID is missing', async () => {
    const r = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey });
    expect(r).toMatchObject({ Success: false, ErrorCode: [1] });
  });
});
