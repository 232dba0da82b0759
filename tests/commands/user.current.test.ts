import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('user.current', () => {
  it('answers the caller’s UserInfo with GroupInfo, Permissions "*" and limits as numeric strings', async () => {
    const u = await createUser(h, {
      FirstName: 'Cur',
      LastName: 'Rent',
      LimitEmailSendPerPeriod: 1000,
      LimitEmailSendPerDay: 100,
      LimitEmailGatewaySenderDomains: 5,
      AvailableCredits: 12,
      ReputationLevel: 'Untrusted',
    });
    const r = await h.call({ Command: 'user.current', SessionID: u.sessionId });
    expect(r).toMatchObject({
      Success: true,
      ErrorCode: 0,
      UserInfo: {
        UserID: u.userId,
        RelUserGroupID: 1,
        Username: u.username,
        EmailAddress: `${u.username}@example.com`,
        FirstName: 'Cur',
        LastName: 'Rent',
        TimeZone: 'UTC',
        AccountStatus: 'Enabled',
        ReputationLevel: 'Untrusted',
        PhoneVerified: 0,
        AvailableCredits: 12,
        LimitEmailSendPerPeriod: '1000',
        LimitEmailSendPerDay: '100',
        LimitEmailGatewaySenderDomains: '5',
      },
    });
    expect(r.UserInfo.GroupInfo).toEqual({
      UserGroupID: 1,
      GroupName: 'Default',
      Permissions: '*',
      LimitEmailSendPerPeriod: '1000',
      LimitEmailSendPerDay: '100',
      LimitEmailSendLifetime: '0',
      LimitEmailGatewaySenderDomains: '5',
    });
  });

  it('shows "0" (unlimited) limits for a user created without limits', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.current', SessionID: u.sessionId });
    expect(r.UserInfo.GroupInfo).toMatchObject({ LimitEmailSendPerPeriod: '0', LimitEmailSendPerDay: '0', LimitEmailGatewaySenderDomains: '0' });
  });

  it('answers the same account through a user API key', async () => {
    const u = await createUser(h);
    const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'cur' })).APIKey.APIKey;
    const bySession = await h.call({ Command: 'user.current', SessionID: u.sessionId });
    const byKey = await h.call({ Command: 'user.current', APIKey: key });
    expect(byKey).toEqual(bySession);
  });

  it('shows a restricted key’s permissions as Octeth writes them (comma-separated, no spaces)', async () => {
    const u = await createUser(h);
    const created = await h.call({
      Command: 'user.apikey.create',
      SessionID: u.sessionId,
      Note: 'restricted',
      Permissions: 'EmailGateway.ManageDomain,EmailGateway.AddDomain',
    });
    const r = await h.call({ Command: 'user.current', APIKey: created.APIKey.APIKey });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
    expect(r.UserInfo.GroupInfo.Permissions.split(',').sort()).toEqual(['EmailGateway.AddDomain', 'EmailGateway.ManageDomain']);
  });

  it('reflects an admin change of the account on the next call', async () => {
    const u = await createUser(h);
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: u.userId, FirstName: 'Later', LimitEmailSendPerDay: 9 });
    const r = await h.call({ Command: 'user.current', SessionID: u.sessionId });
    expect(r.UserInfo).toMatchObject({ FirstName: 'Later', LimitEmailSendPerDay: '9' });
    expect(r.UserInfo.GroupInfo.LimitEmailSendPerDay).toBe('9');
  });

  // D5: upstream §1.6 answers user.current's authentication failure with [1], not 99998.
  it('answers [1] "Authentication required" without credentials', async () => {
    const r = await h.call({ Command: 'user.current' });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Authentication required'] });
  });

  it('answers [1] for the AdminAPIKey (an admin is not a user) and for an expired session', async () => {
    expect(await h.call({ Command: 'user.current', AdminAPIKey: h.adminKey })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await h.call({ Command: 'user.current', SessionID: 'no-such-session' })).toMatchObject({ Success: false, ErrorCode: [1] });
  });
});
