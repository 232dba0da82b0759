import crypto from 'node:crypto';
import { createUser, Harness, startHarness } from './helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ SESSION_IDLE_SECONDS: '60', SESSION_MAX_SECONDS: '600' });
});
afterAll(async () => {
  await h.close();
});

const AUTH_FAILED = { Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' };

function tokenHash(sessionId: string): string {
  return crypto.createHash('sha256').update(sessionId).digest('hex');
}

/** The session's row, or undefined once it is gone. */
function sessionRow(sessionId: string) {
  return h.services
    .db('sessions')
    .where({ token_hash: tokenHash(sessionId) })
    .first();
}

/** Pretends the session was last used `seconds` ago. */
async function idle(sessionId: string, seconds: number): Promise<void> {
  const n = await h.services
    .db('sessions')
    .where({ token_hash: tokenHash(sessionId) })
    .update({ last_seen_at: Date.now() - seconds * 1000 });
  expect(n).toBe(1);
}

async function post(body: Record<string, unknown>) {
  return h.request('POST', '/api.php', { body });
}

describe('session lifetime (SESSION_MAX_SECONDS=600)', () => {
  it('ends a session signed in longer ago than the limit, however recently it was used; a younger one lives', async () => {
    const u = await createUser(h);
    const age = (seconds: number) =>
      h.services
        .db('sessions')
        .where({ token_hash: tokenHash(u.sessionId) })
        .update({ created_at: Date.now() - seconds * 1000, last_seen_at: Date.now() });
    await age(590);
    expect(await h.call({ Command: 'user.current', SessionID: u.sessionId })).toMatchObject({ Success: true });
    await age(601);
    expect(await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId })).toEqual(AUTH_FAILED);
    expect(await sessionRow(u.sessionId)).toBeUndefined();
  });
});

describe('session idle expiry (SESSION_IDLE_SECONDS=60)', () => {
  it('ends a user session idle for longer than the limit', async () => {
    const u = await createUser(h);
    expect(await h.call({ Command: 'user.current', SessionID: u.sessionId })).toMatchObject({ Success: true });
    await idle(u.sessionId, 61);
    expect(await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId })).toEqual(AUTH_FAILED);
    // Once expired it stays expired, and its row is gone.
    expect(await sessionRow(u.sessionId)).toBeUndefined();
    expect(await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId })).toEqual(AUTH_FAILED);
  });

  it('keeps a session idle for less than the limit', async () => {
    const u = await createUser(h);
    await idle(u.sessionId, 55);
    expect(await h.call({ Command: 'user.current', SessionID: u.sessionId })).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('counts idleness from the last use, not from login', async () => {
    const u = await createUser(h);
    await idle(u.sessionId, 45);
    const before = Date.now();
    expect(await h.call({ Command: 'user.current', SessionID: u.sessionId })).toMatchObject({ Success: true });
    const row = await sessionRow(u.sessionId);
    expect(Number(row.last_seen_at)).toBeGreaterThanOrEqual(before);
    // 45 s + another 45 s since login, but only 45 s since the last use.
    await h.services
      .db('sessions')
      .where({ token_hash: tokenHash(u.sessionId) })
      .update({ last_seen_at: Date.now() - 45_000, created_at: Date.now() - 90_000 });
    expect(await h.call({ Command: 'user.current', SessionID: u.sessionId })).toMatchObject({ Success: true });
  });

  it('ends an admin session idle for longer than the limit', async () => {
    const login = await h.call({ Command: 'admin.login', AdminAPIKey: h.adminKey });
    expect(await h.call({ Command: 'users.get', SessionID: login.SessionID })).toMatchObject({ Success: true });
    await idle(login.SessionID, 61);
    expect(await h.call({ Command: 'users.get', SessionID: login.SessionID })).toEqual(AUTH_FAILED);
  });

  it('does not expire API keys, which have no idle limit', async () => {
    const u = await createUser(h);
    const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'long-lived' })).APIKey.APIKey;
    await h.services
      .db('user_api_keys')
      .where({ user_id: u.userId })
      .update({ last_used_at: Date.now() - 86_400_000, created_at: Date.now() - 86_400_000 });
    expect(await h.call({ Command: 'user.current', APIKey: key })).toMatchObject({ Success: true });
  });
});

describe('session storage', () => {
  it('stores only the SHA-256 of the SessionID', async () => {
    const u = await createUser(h);
    const row = await sessionRow(u.sessionId);
    expect(row).toMatchObject({ kind: 'user' });
    expect(Number(row.subject_id)).toBe(u.userId);
    for (const value of Object.values(row)) expect(String(value)).not.toContain(u.sessionId);
  });
});

describe('bad credentials', () => {
  it('answers a scalar 99998 over HTTP 200 for a garbage SessionID', async () => {
    const res = await post({ Command: 'user.apikey.list', SessionID: 'garbage-session-id' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(AUTH_FAILED);
  });

  it('answers a scalar 99998 over HTTP 200 for a garbage APIKey', async () => {
    const res = await post({ Command: 'emailgateway.getdomains', APIKey: 'AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-0000-1111' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(AUTH_FAILED);
  });

  it('answers a scalar 99998 over HTTP 200 for a garbage AdminAPIKey', async () => {
    const res = await post({ Command: 'users.get', AdminAPIKey: 'garbage-admin-key' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(AUTH_FAILED);
  });

  it('answers a scalar 99998 (not an array) on commands whose own errors are arrays', async () => {
    const res = await post({ Command: 'user.create', AdminAPIKey: 'garbage-admin-key' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(AUTH_FAILED);
    const add = await post({ Command: 'emailgateway.adddomain', SessionID: 'garbage' });
    expect(add.body).toEqual(AUTH_FAILED);
  });

  it('answers 99998 with no credentials at all, and for blank ones', async () => {
    expect((await post({ Command: 'user.apikey.list' })).body).toEqual(AUTH_FAILED);
    expect((await post({ Command: 'user.apikey.list', SessionID: '', APIKey: '' })).body).toEqual(AUTH_FAILED);
    expect((await post({ Command: 'users.get', AdminAPIKey: '' })).body).toEqual(AUTH_FAILED);
  });

  it('answers 99998 in XML when ResponseFormat is XML', async () => {
    const res = await post({ Command: 'user.apikey.list', SessionID: 'garbage', ResponseFormat: 'XML' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(res.text).toContain('99998');
  });

  it('accepts credentials sent as form fields or in the query string', async () => {
    const u = await createUser(h);
    const form = await h.request('POST', '/api.php', { form: { Command: 'user.current', SessionID: u.sessionId } });
    expect(form.body).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
    const query = await h.request('GET', '/api.php', { query: { Command: 'user.current', SessionID: u.sessionId } });
    expect(query.body).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });
});

describe('credential precedence', () => {
  it('uses the SessionID when both SessionID and APIKey are given', async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    const bKey = (await h.call({ Command: 'user.apikey.create', SessionID: b.sessionId, Note: 'b' })).APIKey.APIKey;
    const r = await h.call({ Command: 'user.current', SessionID: a.sessionId, APIKey: bKey });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: a.userId } });
    const list = await h.call({ Command: 'user.apikey.list', SessionID: b.sessionId });
    expect(list.APIKeys[0].RequestCount).toBe(0);
  });

  it('does not fall back to the APIKey when the SessionID is bad', async () => {
    const u = await createUser(h);
    const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'fallback' })).APIKey.APIKey;
    const r = await h.call({ Command: 'user.apikey.list', SessionID: 'expired-or-garbage', APIKey: key });
    expect(r).toEqual(AUTH_FAILED);
  });

  it('takes parameter names in any case', async () => {
    const u = await createUser(h);
    const r = await h.call({ COMMAND: 'USER.CURRENT', sessionid: u.sessionId });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });
});
