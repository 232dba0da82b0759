import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function newKey(sessionId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'login test', ...extra });
  if (!r.Success) throw new Error(`user.apikey.create failed: ${JSON.stringify(r)}`);
  return r.APIKey.APIKey;
}

describe('user.login', () => {
  it('returns a SessionID and the user summary with an empty ErrorText', async () => {
    const u = await createUser(h, { FirstName: 'Ada', LastName: 'Lovelace' });
    const r = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      ErrorText: '',
      SessionID: expect.any(String),
      UserInfo: {
        UserID: u.userId,
        Username: u.username,
        EmailAddress: `${u.username}@example.com`,
        FirstName: 'Ada',
        LastName: 'Lovelace',
        AccountStatus: 'Enabled',
      },
    });
    expect(r.SessionID.length).toBeGreaterThanOrEqual(32);
    expect(r.SessionID).not.toBe(u.sessionId);
    // A form that sends every field: an empty (or null) APIKey beside them is no key.
    for (const APIKey of ['', null]) {
      expect(await h.call({ Command: 'user.login', Username: u.username, Password: u.password, APIKey })).toMatchObject({ Success: true, ErrorCode: 0 });
    }
    expect(await h.call({ Command: 'user.login', APIKey: '' })).toMatchObject({ Success: false, ErrorCode: [1, 2] });
    const current = await h.call({ Command: 'user.current', SessionID: r.SessionID });
    expect(current).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('matches the username case-insensitively', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.login', Username: u.username.toUpperCase(), Password: u.password });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, UserInfo: { UserID: u.userId, Username: u.username } });
  });

  it('accepts lowercase parameter names', async () => {
    const u = await createUser(h);
    const r = await h.call({ command: 'user.login', username: u.username, password: u.password });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('logs in with a user API key instead of a password', async () => {
    const u = await createUser(h);
    const key = await newKey(u.sessionId);
    const r = await h.call({ Command: 'user.login', APIKey: key });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, ErrorText: '', UserInfo: { UserID: u.userId, Username: u.username } });
    const current = await h.call({ Command: 'user.current', SessionID: r.SessionID });
    expect(current).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('counts an API key login as a use of that key', async () => {
    const u = await createUser(h);
    await newKey(u.sessionId);
    const key = await newKey(u.sessionId, { Note: 'counted' });
    await h.call({ Command: 'user.login', APIKey: key });
    await h.call({ Command: 'user.login', APIKey: key });
    const list = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    const row = list.APIKeys.find((k: any) => k.Note === 'counted');
    expect(row.RequestCount).toBe(2);
    expect(row.LastUsedAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(list.APIKeys.find((k: any) => k.Note === 'login test').RequestCount).toBe(0);
  });

  it('answers [3] for an unknown API key', async () => {
    const r = await h.call({ Command: 'user.login', APIKey: 'DEAD-BEEF-DEAD-BEEF-DEAD-BEEF-DEAD-BEEF' });
    expect(r).toEqual({ Success: false, ErrorCode: [3], ErrorText: ['Invalid login information'] });
  });

  it('answers [1] when Username is missing', async () => {
    const r = await h.call({ Command: 'user.login', Password: 'whatever-pass' });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (Username)'] });
  });

  it('answers [2] when Password is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.login', Username: u.username });
    expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['Missing required parameter (Password)'] });
  });

  it('answers [1,2] when neither is given', async () => {
    const r = await h.call({ Command: 'user.login' });
    expect(r).toMatchObject({ Success: false, ErrorCode: [1, 2] });
    expect(r.ErrorText).toEqual(['Missing required parameter (Username)', 'Missing required parameter (Password)']);
  });

  it('treats empty strings as missing', async () => {
    const r = await h.call({ Command: 'user.login', Username: '', Password: '' });
    expect(r).toMatchObject({ Success: false, ErrorCode: [1, 2] });
  });

  it('answers [3] for a wrong password', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.login', Username: u.username, Password: 'not the password' });
    expect(r).toEqual({ Success: false, ErrorCode: [3], ErrorText: ['Invalid login information'] });
  });

  it('answers [3] for an unknown user, exactly as for a wrong password', async () => {
    const r = await h.call({ Command: 'user.login', Username: 'nobody_here_at_all', Password: 'correct horse battery' });
    expect(r).toEqual({ Success: false, ErrorCode: [3], ErrorText: ['Invalid login information'] });
  });

  it('answers [5] for a disabled account with the right password', async () => {
    const u = await createUser(h);
    const upd = await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: u.userId, AccountStatus: 'Disabled' });
    expect(upd).toMatchObject({ Success: true });
    const r = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
    expect(r).toEqual({ Success: false, ErrorCode: [5], ErrorText: ['Account is disabled'] });
    // The wrong password still says only "invalid login": a disabled account is not revealed to a guesser.
    const wrong = await h.call({ Command: 'user.login', Username: u.username, Password: 'not the password' });
    expect(wrong).toMatchObject({ Success: false, ErrorCode: [3] });
  });

  it('answers [5] for an API key login to a disabled account', async () => {
    const u = await createUser(h);
    const key = await newKey(u.sessionId);
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: u.userId, AccountStatus: 'Disabled' });
    const r = await h.call({ Command: 'user.login', APIKey: key });
    expect(r).toMatchObject({ Success: false, ErrorCode: [5] });
  });

  it('lets a re-enabled account log in again', async () => {
    const u = await createUser(h);
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: u.userId, AccountStatus: 'Disabled' });
    await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: u.userId, AccountStatus: 'Enabled' });
    const r = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
    expect(r).toMatchObject({ Success: true, UserInfo: { AccountStatus: 'Enabled' } });
  });
});
