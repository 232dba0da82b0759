import { hashPassword } from '../../src/auth/secrets';
import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function adminSession(): Promise<string> {
  const r = await h.call({ Command: 'admin.login', AdminAPIKey: h.adminKey });
  if (!r.Success) throw new Error(`admin.login failed: ${JSON.stringify(r)}`);
  return r.SessionID;
}

describe('admin.login', () => {
  it('turns the AdminAPIKey into a SessionID with the admin summary', async () => {
    const r = await h.call({ Command: 'admin.login', AdminAPIKey: h.adminKey });
    expect(r).toEqual({
      Success: true,
      ErrorCode: 0,
      SessionID: expect.any(String),
      AdminInfo: { AdminID: 1, Username: 'admin', EmailAddress: '' },
    });
    expect(r.SessionID.length).toBeGreaterThanOrEqual(32);
    expect(r.SessionID).not.toContain(h.adminKey);
  });

  it('gives a SessionID that works for admin commands', async () => {
    const u = await createUser(h, { FirstName: 'Grace' });
    const sid = await adminSession();
    const list = await h.call({ Command: 'users.get', SessionID: sid, RecordsPerRequest: 0 });
    expect(list).toMatchObject({ Success: true, ErrorCode: 0, TotalUserCount: expect.any(Number) });
    expect(list.Users.find((x: any) => x.UserID === u.userId)).toMatchObject({ Username: u.username, FirstName: 'Grace' });
    const one = await h.call({ Command: 'user.get', SessionID: sid, UserID: u.userId });
    expect(one).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
    const created = await h.call({
      Command: 'user.create',
      SessionID: sid,
      RelUserGroupID: 1,
      EmailAddress: 'made-by-admin-session@example.com',
      Username: 'made_by_admin_session',
      Password: 'long enough password',
      FirstName: 'Made',
      TimeZone: 'UTC',
      Language: 'en',
    });
    expect(created).toEqual({ Success: true, ErrorCode: 0, UserID: expect.any(Number) });
  });

  it('answers a scalar 3 for a wrong AdminAPIKey', async () => {
    const r = await h.call({ Command: 'admin.login', AdminAPIKey: `${h.adminKey}x` });
    expect(r).toEqual({ Success: false, ErrorCode: 3, ErrorText: 'Invalid admin credentials' });
  });

  it('answers a scalar 3 for a user API key presented as AdminAPIKey', async () => {
    const u = await createUser(h);
    const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'n' })).APIKey.APIKey;
    const r = await h.call({ Command: 'admin.login', AdminAPIKey: key });
    expect(r).toEqual({ Success: false, ErrorCode: 3, ErrorText: 'Invalid admin credentials' });
  });

  it('logs in with the admin Username and Password, the name matched case-insensitively', async () => {
    await h.services
      .db('admins')
      .where({ id: 1 })
      .update({ password_hash: await hashPassword('admin pass phrase') });
    const r = await h.call({ Command: 'admin.login', Username: 'ADMIN', Password: 'admin pass phrase' });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, AdminInfo: { AdminID: 1, Username: 'admin' } });
    expect(await h.call({ Command: 'users.get', SessionID: r.SessionID })).toMatchObject({ Success: true });
    // A form that sends every field: an empty (or null) AdminAPIKey beside them is no key.
    for (const AdminAPIKey of ['', null]) {
      const blank = await h.call({ Command: 'admin.login', Username: 'admin', Password: 'admin pass phrase', AdminAPIKey });
      expect(blank).toMatchObject({ Success: true, AdminInfo: { AdminID: 1 } });
    }
    const wrong = await h.call({ Command: 'admin.login', Username: 'admin', Password: 'admin pass phrasE' });
    expect(wrong).toEqual({ Success: false, ErrorCode: 3, ErrorText: 'Invalid admin credentials' });
    const unknown = await h.call({ Command: 'admin.login', Username: 'root', Password: 'admin pass phrase' });
    expect(unknown).toEqual({ Success: false, ErrorCode: 3, ErrorText: 'Invalid admin credentials' });
  });

  it('gives a user password no way in as admin', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'admin.login', Username: u.username, Password: u.password });
    expect(r).toMatchObject({ Success: false, ErrorCode: 3 });
  });
});

describe('admin and user sessions are kept apart', () => {
  it('refuses a user SessionID on admin commands with 99998', async () => {
    const u = await createUser(h);
    for (const cmd of [
      { Command: 'users.get' },
      { Command: 'user.get', UserID: u.userId },
      { Command: 'user.update', UserID: u.userId, FirstName: 'Hacked' },
      { Command: 'user.delete', UserID: u.userId },
      { Command: 'admin.logout' },
    ]) {
      const r = await h.call({ ...cmd, SessionID: u.sessionId });
      expect(r).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
    }
    const still = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: u.userId });
    expect(still).toMatchObject({ Success: true, UserInfo: { FirstName: 'Test' } });
  });

  it('refuses an admin SessionID on user commands with 99998', async () => {
    const sid = await adminSession();
    for (const cmd of ['user.logout', 'user.apikey.list', 'emailgateway.getdomains']) {
      const r = await h.call({ Command: cmd, SessionID: sid });
      expect(r).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
    }
    // The refused calls did not end the admin session.
    expect(await h.call({ Command: 'users.get', SessionID: sid })).toMatchObject({ Success: true });
  });

  it('refuses the AdminAPIKey where a user API key is expected', async () => {
    const r = await h.call({ Command: 'user.apikey.list', APIKey: h.adminKey });
    expect(r).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});

describe('admin.logout', () => {
  it('ends the admin session: the SessionID then answers 99998', async () => {
    const sid = await adminSession();
    const out = await h.call({ Command: 'admin.logout', SessionID: sid });
    expect(out).toEqual({ Success: true, ErrorCode: 0 });
    const after = await h.call({ Command: 'users.get', SessionID: sid });
    expect(after).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
  });

  it('leaves other admin sessions and the AdminAPIKey working', async () => {
    const a = await adminSession();
    const b = await adminSession();
    await h.call({ Command: 'admin.logout', SessionID: a });
    expect(await h.call({ Command: 'users.get', SessionID: b })).toMatchObject({ Success: true });
    const withKey = await h.call({ Command: 'admin.logout', AdminAPIKey: h.adminKey });
    expect(withKey).toEqual({ Success: true, ErrorCode: 0 });
    expect(await h.call({ Command: 'users.get', AdminAPIKey: h.adminKey })).toMatchObject({ Success: true });
    expect(await h.call({ Command: 'users.get', SessionID: b })).toMatchObject({ Success: true });
  });

  it('answers 99998 over HTTP 200 without credentials', async () => {
    const res = await h.request('POST', '/api.php', { body: { Command: 'admin.logout' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
  });
});
