import crypto from 'node:crypto';
import { createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const KEY_FORMAT = /^[0-9A-F]{4}(-[0-9A-F]{4}){7}$/;
const TIME_FORMAT = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

function create(sessionId: string, params: Record<string, unknown> = {}): Promise<any> {
  return h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'a key', ...params });
}

/** The address the test client's requests arrive from, as the gateway records it. */
async function clientIp(): Promise<string> {
  const u = await createUser(h);
  const key = (await create(u.sessionId)).APIKey.APIKey;
  await h.call({ Command: 'user.current', APIKey: key });
  const list = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
  return list.APIKeys[0].LastUsedIP;
}

describe('user.apikey.create', () => {
  it('shows the new key in full once, in 8 groups of 4 uppercase hex digits, with no ErrorCode', async () => {
    const u = await createUser(h);
    const r = await create(u.sessionId, { Note: 'first key' });
    expect(r).toEqual({
      Success: true,
      APIKeyID: expect.any(Number),
      APIKey: {
        APIKeyID: r.APIKeyID,
        APIKey: expect.stringMatching(KEY_FORMAT),
        KeyType: 'user',
        Note: 'first key',
        IPAddress: null,
        BoundIPAddress: null,
        Permissions: '*',
        CreatedAt: expect.stringMatching(TIME_FORMAT),
        LastUsedAt: null,
        LastUsedIP: null,
        RequestCount: 0,
      },
    });
    expect(r).not.toHaveProperty('ErrorCode');
    const other = await create(u.sessionId);
    expect(other.APIKey.APIKey).not.toBe(r.APIKey.APIKey);
    expect(other.APIKeyID).not.toBe(r.APIKeyID);
  });

  it('gives a key that authenticates its owner', async () => {
    const u = await createUser(h);
    const key = (await create(u.sessionId)).APIKey.APIKey;
    const r = await h.call({ Command: 'user.current', APIKey: key });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('stores only the SHA-256 hex of the key', async () => {
    const u = await createUser(h);
    const r = await create(u.sessionId);
    const key: string = r.APIKey.APIKey;
    const row = await h.services.db('user_api_keys').where({ id: r.APIKeyID }).first();
    expect(row.key_hash).toBe(crypto.createHash('sha256').update(key).digest('hex'));
    expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.key_last4).toBe(key.slice(-4));
    for (const value of Object.values(row)) expect(String(value)).not.toContain(key);
    expect(String(Object.values(row))).not.toContain(key.replace(/-/g, ''));
  });

  it('answers [1] when Note is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (Note)'] });
  });

  it('answers 5 for a BoundIPAddress that is not an IP address', async () => {
    const u = await createUser(h);
    for (const bad of ['not-an-ip', '999.1.1.1', '10.0.0.0/8']) {
      const r = await create(u.sessionId, { BoundIPAddress: bad });
      expect(r).toEqual({ Success: false, ErrorCode: 5, ErrorText: 'Invalid BoundIPAddress' });
    }
    const list = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(list.APIKeys).toEqual([]);
  });

  it('answers 6 for malformed Permissions', async () => {
    const u = await createUser(h);
    for (const bad of ['not a permission', 'EmailGateway', 'EmailGateway.ManageDomain, EmailGateway.AddDomain']) {
      const r = await create(u.sessionId, { Permissions: bad });
      expect(r).toMatchObject({ Success: false, ErrorCode: [6] });
    }
  });

  it('echoes BoundIPAddress (and the deprecated IPAddress) and Permissions', async () => {
    const u = await createUser(h);
    const r = await create(u.sessionId, { BoundIPAddress: '10.9.8.7', Permissions: 'EmailGateway.ManageDomain' });
    expect(r.APIKey).toMatchObject({ BoundIPAddress: '10.9.8.7', IPAddress: '10.9.8.7', Permissions: 'EmailGateway.ManageDomain' });
  });

  it('answers 99998 without a user credential', async () => {
    expect(await h.call({ Command: 'user.apikey.create', Note: 'x' })).toMatchObject({ Success: false, ErrorCode: 99998 });
    expect(await h.call({ Command: 'user.apikey.create', AdminAPIKey: h.adminKey, Note: 'x' })).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});

describe('BoundIPAddress', () => {
  it('refuses a key bound to another address (user.current answers [1])', async () => {
    const u = await createUser(h);
    const key = (await create(u.sessionId, { BoundIPAddress: '10.9.8.7' })).APIKey.APIKey;
    const r = await h.call({ Command: 'user.current', APIKey: key });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Authentication required'] }); // user.current's own code (D5)
    const login = await h.call({ Command: 'user.login', APIKey: key });
    expect(login).toMatchObject({ Success: false, ErrorCode: [3] });
    const list = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(list.APIKeys[0]).toMatchObject({ RequestCount: 0, LastUsedAt: null });
  });

  it('accepts a key bound to the exact address the client connects from', async () => {
    const ip = await clientIp();
    expect(['127.0.0.1', '::ffff:127.0.0.1', '::1']).toContain(ip);
    const u = await createUser(h);
    const key = (await create(u.sessionId, { BoundIPAddress: ip })).APIKey.APIKey;
    expect(await h.call({ Command: 'user.current', APIKey: key })).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('accepts a key bound to 127.0.0.1 from a loopback IPv4 client', async () => {
    const u = await createUser(h);
    const key = (await create(u.sessionId, { BoundIPAddress: '127.0.0.1' })).APIKey.APIKey;
    const r = await h.call({ Command: 'user.current', APIKey: key });
    expect(r).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
  });

  it('matches the forwarded client address behind a trusted (loopback) proxy', async () => {
    const u = await createUser(h);
    const key = (await create(u.sessionId, { BoundIPAddress: '10.9.8.7' })).APIKey.APIKey;
    const res = await h.request('POST', '/api.php', { headers: { 'X-Forwarded-For': '10.9.8.7' }, body: { Command: 'user.current', APIKey: key } });
    expect(res.body).toMatchObject({ Success: true, UserInfo: { UserID: u.userId } });
    const other = await h.request('POST', '/api.php', { headers: { 'X-Forwarded-For': '10.9.8.8' }, body: { Command: 'user.current', APIKey: key } });
    expect(other.body).toMatchObject({ Success: false, ErrorCode: [1] });
  });
});

describe('API key Permissions', () => {
  it('lets an EmailGateway.ManageDomain key list domains but not add one (99999)', async () => {
    const u = await createUser(h);
    const key = (await create(u.sessionId, { Permissions: 'EmailGateway.ManageDomain' })).APIKey.APIKey;
    const list = await h.call({ Command: 'emailgateway.getdomains', APIKey: key });
    expect(list).toMatchObject({ Success: true, Domains: [] });
    const add = await h.call({ Command: 'emailgateway.adddomain', APIKey: key, DomainName: uniqueDomain() });
    expect(add).toEqual({ Success: false, ErrorCode: 99999, ErrorText: 'User does not have the required permission (EmailGateway.AddDomain)' });
    const viaSession = await h.call({ Command: 'emailgateway.getdomains', SessionID: u.sessionId });
    expect(viaSession.Domains).toEqual([]);
  });

  it('refuses user.apikey.* to a key without User.Update (99999)', async () => {
    const u = await createUser(h);
    const key = (await create(u.sessionId, { Permissions: 'EmailGateway.ManageDomain' })).APIKey.APIKey;
    const r = await h.call({ Command: 'user.apikey.create', APIKey: key, Note: 'escalate' });
    expect(r).toEqual({ Success: false, ErrorCode: 99999, ErrorText: 'User does not have the required permission (User.Update)' });
  });

  it('matches permission names case-insensitively and "*" grants everything', async () => {
    const u = await createUser(h);
    const lower = (await create(u.sessionId, { Permissions: 'emailgateway.adddomain' })).APIKey.APIKey;
    const add = await h.call({ Command: 'emailgateway.adddomain', APIKey: lower, DomainName: uniqueDomain() });
    expect(add).toMatchObject({ Success: true });
    const all = (await create(u.sessionId, { Permissions: '*' })).APIKey.APIKey;
    expect(await h.call({ Command: 'user.apikey.list', APIKey: all })).toMatchObject({ Success: true });
  });
});

describe('user.apikey.list', () => {
  it('lists the caller’s keys masked to their last four characters, with no ErrorCode', async () => {
    const u = await createUser(h);
    const a = await create(u.sessionId, { Note: 'alpha' });
    const b = await create(u.sessionId, { Note: 'beta', BoundIPAddress: '10.9.8.7', Permissions: 'EmailGateway.ManageDomain' });
    const other = await createUser(h);
    await create(other.sessionId, { Note: 'not mine' });
    const r = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(r).not.toHaveProperty('ErrorCode');
    expect(r).toEqual({
      Success: true,
      APIKeys: [
        {
          APIKeyID: a.APIKeyID,
          APIKey: `****-****-****-****-****-****-****-${a.APIKey.APIKey.slice(-4)}`,
          KeyType: 'user',
          Note: 'alpha',
          BoundIPAddress: null,
          Permissions: '*',
          CreatedAt: a.APIKey.CreatedAt,
          LastUsedAt: null,
          LastUsedIP: null,
          RequestCount: 0,
        },
        {
          APIKeyID: b.APIKeyID,
          APIKey: `****-****-****-****-****-****-****-${b.APIKey.APIKey.slice(-4)}`,
          KeyType: 'user',
          Note: 'beta',
          BoundIPAddress: '10.9.8.7',
          Permissions: 'EmailGateway.ManageDomain',
          CreatedAt: b.APIKey.CreatedAt,
          LastUsedAt: null,
          LastUsedIP: null,
          RequestCount: 0,
        },
      ],
    });
    const text = JSON.stringify(r);
    expect(text).not.toContain(a.APIKey.APIKey);
    expect(text).not.toContain(b.APIKey.APIKey);
  });

  it('records each use of a key: RequestCount, LastUsedAt and LastUsedIP', async () => {
    const u = await createUser(h);
    const key = (await create(u.sessionId)).APIKey.APIKey;
    await h.call({ Command: 'user.current', APIKey: key });
    await h.call({ Command: 'emailgateway.getdomains', APIKey: key });
    await h.call({ Command: 'user.current', APIKey: key });
    const r = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(r.APIKeys[0]).toMatchObject({
      RequestCount: 3,
      LastUsedAt: expect.stringMatching(TIME_FORMAT),
      LastUsedIP: expect.stringMatching(/127\.0\.0\.1|::1/),
    });
  });

  it('answers an empty list for a user without keys', async () => {
    const u = await createUser(h);
    expect(await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId })).toEqual({ Success: true, APIKeys: [] });
  });
});

describe('user.apikey.delete', () => {
  it('revokes the key: it then answers 99998', async () => {
    const u = await createUser(h);
    const created = await create(u.sessionId);
    const keep = await create(u.sessionId, { Note: 'keep' });
    const r = await h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId, APIKeyID: created.APIKeyID });
    expect(r).toEqual({ Success: true });
    expect(await h.call({ Command: 'user.apikey.list', APIKey: created.APIKey.APIKey })).toEqual({
      Success: false,
      ErrorCode: 99998,
      ErrorText: 'Authentication failure or session expired',
    });
    expect(await h.call({ Command: 'user.current', APIKey: keep.APIKey.APIKey })).toMatchObject({ Success: true });
    const list = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(list.APIKeys.map((k: any) => k.APIKeyID)).toEqual([keep.APIKeyID]);
  });

  it('lets a key delete itself', async () => {
    const u = await createUser(h);
    const created = await create(u.sessionId);
    const r = await h.call({ Command: 'user.apikey.delete', APIKey: created.APIKey.APIKey, APIKeyID: created.APIKeyID });
    expect(r).toEqual({ Success: true });
    expect(await h.call({ Command: 'user.current', APIKey: created.APIKey.APIKey })).toMatchObject({ ErrorCode: [1] });
  });

  it('answers [1] when APIKeyID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId });
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (APIKeyID)'] });
  });

  it('answers 2 for an unknown key', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId, APIKeyID: 999999 });
    expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'API key not found' });
  });

  it('answers 2 for another user’s key and leaves it working', async () => {
    const owner = await createUser(h);
    const thief = await createUser(h);
    const created = await create(owner.sessionId);
    const r = await h.call({ Command: 'user.apikey.delete', SessionID: thief.sessionId, APIKeyID: created.APIKeyID });
    expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'API key not found' });
    expect(await h.call({ Command: 'user.current', APIKey: created.APIKey.APIKey })).toMatchObject({ Success: true, UserInfo: { UserID: owner.userId } });
  });

  it('answers 2 for a key already deleted', async () => {
    const u = await createUser(h);
    const created = await create(u.sessionId);
    await h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId, APIKeyID: created.APIKeyID });
    const again = await h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId, APIKeyID: created.APIKeyID });
    expect(again).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'API key not found' });
  });
});
