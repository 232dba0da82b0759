import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('user.logout', () => {
  it('ends the session: the SessionID then answers 99998', async () => {
    const u = await createUser(h);
    const out = await h.call({ Command: 'user.logout', SessionID: u.sessionId });
    expect(out).toEqual({ Success: true, ErrorCode: 0 });
    const after = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(after).toMatchObject({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
  });

  it('answers 99998 for a second logout with the same SessionID', async () => {
    const u = await createUser(h);
    await h.call({ Command: 'user.logout', SessionID: u.sessionId });
    const again = await h.call({ Command: 'user.logout', SessionID: u.sessionId });
    expect(again).toMatchObject({ Success: false, ErrorCode: 99998 });
  });

  it('leaves the same user’s other sessions open', async () => {
    const u = await createUser(h);
    const second = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
    await h.call({ Command: 'user.logout', SessionID: u.sessionId });
    const r = await h.call({ Command: 'user.current', SessionID: second.SessionID });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('does not revoke the API key it is called with', async () => {
    const u = await createUser(h);
    const created = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'stays' });
    const key = created.APIKey.APIKey;
    const out = await h.call({ Command: 'user.logout', APIKey: key });
    expect(out).toEqual({ Success: true, ErrorCode: 0 });
    const r = await h.call({ Command: 'user.current', APIKey: key });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
    // ...nor the session the key's owner holds.
    expect(await h.call({ Command: 'user.current', SessionID: u.sessionId })).toMatchObject({ Success: true });
  });

  it('answers 99998 without credentials', async () => {
    const r = await h.call({ Command: 'user.logout' });
    expect(r).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});
