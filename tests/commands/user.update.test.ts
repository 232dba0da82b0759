import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

function update(params: Record<string, unknown>): Promise<any> {
  return h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, ...params });
}

async function newKey(sessionId: string): Promise<string> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'update test' });
  if (!r.Success) throw new Error(`user.apikey.create failed: ${JSON.stringify(r)}`);
  return r.APIKey.APIKey;
}

describe('user.update', () => {
  it('changes the given fields and answers the updated UserInfo', async () => {
    const u = await createUser(h, { LastName: 'Before' });
    const r = await update({
      UserID: u.userId,
      FirstName: 'Changed',
      CompanyName: 'NewCo',
      TimeZone: 'America/New_York',
      Language: 'de',
      ReputationLevel: 'Untrusted',
      LimitEmailSendPerDay: 50,
      LimitEmailSendPerPeriod: 1500,
      LimitEmailGatewaySenderDomains: 3,
      AvailableCredits: 7,
      PhoneVerified: 1,
    });
    expect(r).toMatchObject({
      Success: true,
      ErrorCode: 0,
      UserInfo: {
        UserID: u.userId,
        Username: u.username,
        FirstName: 'Changed',
        LastName: 'Before',
        CompanyName: 'NewCo',
        TimeZone: 'America/New_York',
        Language: 'de',
        ReputationLevel: 'Untrusted',
        AccountStatus: 'Enabled',
        LimitEmailSendPerDay: '50',
        LimitEmailSendPerPeriod: '1500',
        LimitEmailGatewaySenderDomains: '3',
        AvailableCredits: 7,
        PhoneVerified: 1,
      },
    });
    const got = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: u.userId });
    expect(got.UserInfo).toEqual(r.UserInfo);
  });

  it('renames the user and changes the address (stored lowercase)', async () => {
    const u = await createUser(h);
    const r = await update({ UserID: u.userId, Username: `${u.username}_renamed`, EmailAddress: `Renamed.${u.username}@Example.com` });
    expect(r.UserInfo).toMatchObject({ Username: `${u.username}_renamed`, EmailAddress: `renamed.${u.username}@example.com` });
    expect(await h.call({ Command: 'user.login', Username: `${u.username}_renamed`, Password: u.password })).toMatchObject({ Success: true });
    expect(await h.call({ Command: 'user.login', Username: u.username, Password: u.password })).toMatchObject({ ErrorCode: [3] });
  });

  it('lets a user keep its own username and address (no self-collision)', async () => {
    const u = await createUser(h);
    const r = await update({ UserID: u.userId, Username: u.username.toUpperCase(), EmailAddress: `${u.username}@example.com` });
    expect(r).toMatchObject({ Success: true, UserInfo: { Username: u.username.toUpperCase() } });
  });

  it('answers [1] when UserID is missing', async () => {
    const r = await update({ FirstName: 'Nobody' });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (UserID)'] });
  });

  it('answers [2] for an unknown user', async () => {
    const r = await update({ UserID: 999999, FirstName: 'Nobody' });
    expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['User not found'] });
  });

  it('answers [12] for a username another user has, in any case', async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    const r = await update({ UserID: b.userId, Username: a.username.toUpperCase() });
    expect(r).toEqual({ Success: false, ErrorCode: [12], ErrorText: ['Username is already taken'] });
    const got = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: b.userId });
    expect(got.UserInfo.Username).toBe(b.username);
  });

  it('answers [13] for an address another user has', async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    const r = await update({ UserID: b.userId, EmailAddress: `${a.username}@EXAMPLE.com` });
    expect(r).toEqual({ Success: false, ErrorCode: [13], ErrorText: ['Email address is already in use'] });
  });

  it('changes nothing when one of the fields is invalid', async () => {
    const u = await createUser(h);
    const r = await update({ UserID: u.userId, FirstName: 'ShouldNotStick', TimeZone: 'Mars/Base' });
    expect(r).toMatchObject({ Success: false, ErrorCode: [18] });
    const got = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: u.userId });
    expect(got.UserInfo).toMatchObject({ FirstName: 'Test', TimeZone: 'UTC' });
  });

  it('answers [5] for a new password shorter than 8 characters', async () => {
    const u = await createUser(h);
    expect(await update({ UserID: u.userId, Password: 'short' })).toMatchObject({ Success: false, ErrorCode: [5] });
    expect(await h.call({ Command: 'user.current', SessionID: u.sessionId })).toMatchObject({ Success: true });
  });

  it('ends the user’s sessions on a new password; the new password logs in, the old does not', async () => {
    const u = await createUser(h);
    const second = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
    const r = await update({ UserID: u.userId, Password: 'brand new password' });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0 });
    for (const sid of [u.sessionId, second.SessionID]) {
      expect(await h.call({ Command: 'user.current', SessionID: sid })).toMatchObject({ Success: false, ErrorCode: [1] });
    }
    expect(await h.call({ Command: 'user.login', Username: u.username, Password: u.password })).toMatchObject({ Success: false, ErrorCode: [3] });
    const fresh = await h.call({ Command: 'user.login', Username: u.username, Password: 'brand new password' });
    expect(fresh).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
    const row = await h.services.db('users').where({ id: u.userId }).first();
    expect(row.password_hash.startsWith('scrypt$')).toBe(true);
    expect(row.password_hash).not.toContain('brand new password');
  });

  it('leaves other users’ sessions alone on a password change', async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    await update({ UserID: a.userId, Password: 'another new password' });
    expect(await h.call({ Command: 'user.current', SessionID: b.sessionId })).toMatchObject({ Success: true, UserInfo: { UserID: b.userId } });
  });

  it('keeps sessions open on a profile-only change', async () => {
    const u = await createUser(h);
    await update({ UserID: u.userId, FirstName: 'Renamed' });
    const r = await h.call({ Command: 'user.current', SessionID: u.sessionId });
    expect(r).toMatchObject({ Success: true, UserInfo: { FirstName: 'Renamed' } });
  });

  it('locks a disabled account out: its sessions and API keys answer 99998', async () => {
    const u = await createUser(h);
    const key = await newKey(u.sessionId);
    const r = await update({ UserID: u.userId, AccountStatus: 'Disabled' });
    expect(r).toMatchObject({ Success: true, UserInfo: { AccountStatus: 'Disabled' } });
    const bySession = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(bySession).toMatchObject({ Success: false, ErrorCode: 99998 });
    const byKey = await h.call({ Command: 'user.apikey.list', APIKey: key });
    expect(byKey).toMatchObject({ Success: false, ErrorCode: 99998 });
    expect(byKey.ErrorText).toMatch(/disabled/i);
    const domains = await h.call({ Command: 'emailgateway.getdomains', APIKey: key });
    expect(domains).toMatchObject({ Success: false, ErrorCode: 99998 });
  });

  it('lets the API keys of a re-enabled account work again', async () => {
    const u = await createUser(h);
    const key = await newKey(u.sessionId);
    await update({ UserID: u.userId, AccountStatus: 'Disabled' });
    await update({ UserID: u.userId, AccountStatus: 'Enabled' });
    expect(await h.call({ Command: 'user.current', APIKey: key })).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('answers 99998 for a user SessionID', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.update', SessionID: u.sessionId, UserID: u.userId, FirstName: 'Self' });
    expect(r).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
  });
});
