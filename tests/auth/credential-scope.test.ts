/**
 * What a narrower credential may do, through /api.php and /api/v1: a session opened with a restricted or IP-bound
 * user API key keeps to that key (and ends with it), a restricted key cannot mint a wider one, the suppression
 * commands need a permission, an account key reaches no more than its account's group, and a disabled account's
 * sender keys read and change nothing.
 */
import { createUser, Harness, senderSetup, startHarness } from '../helpers/harness';
import { ensureAdmin, resetAdminApiKey } from '../../src/auth/admin';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const DENIED = 99999;

async function userKey(sessionId: string, extra: Record<string, unknown>): Promise<{ id: number; key: string }> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'scoped', ...extra });
  expect(r.APIKeyID).toEqual(expect.any(Number));
  return { id: r.APIKeyID, key: r.APIKey.APIKey };
}

describe('a session opened with a user API key', () => {
  it("has the key's permissions, not the account's, and cannot mint a wider key", async () => {
    const u = await createUser(h);
    const rk = await userKey(u.sessionId, { Permissions: 'Lists.Get' });
    const login = await h.call({ Command: 'user.login', APIKey: rk.key });
    expect(login.Success).toBe(true);
    const s2 = login.SessionID;
    expect((await h.call({ Command: 'emailgateway.getdomains', SessionID: s2 })).ErrorCode).toBe(DENIED);
    expect((await h.call({ Command: 'lists.get', SessionID: s2 })).Success).toBe(true);
    // The full session still can.
    expect((await h.call({ Command: 'emailgateway.getdomains', SessionID: u.sessionId })).ErrorCode).toBe(0);
  });

  it('a key with User.Update only cannot make a key with more, nor an account key (code 12); within it, it can', async () => {
    const u = await createUser(h);
    const rk = await userKey(u.sessionId, { Permissions: 'User.Update' });
    for (const extra of [{}, { Permissions: '*' }, { Permissions: 'User.Update,EmailGateway.ManageDomain' }, { KeyType: 'account' }]) {
      const r = await h.call({ Command: 'user.apikey.create', APIKey: rk.key, Note: 'wider', ...extra });
      expect(r.ErrorCode).toBe(12);
    }
    const narrow = await h.call({ Command: 'user.apikey.create', APIKey: rk.key, Note: 'same', Permissions: 'User.Update' });
    expect(narrow.APIKeyID).toEqual(expect.any(Number));
  });

  it("keeps the key's IP binding and ends when the key is deleted", async () => {
    const u = await createUser(h);
    const bound = await userKey(u.sessionId, { BoundIPAddress: '192.0.2.7' });
    // Logging in from another address already fails; a session made from the bound address keeps to it.
    expect((await h.call({ Command: 'user.login', APIKey: bound.key })).Success).toBe(false);
    await h.services.db('user_api_keys').where({ id: bound.id }).update({ bound_ip: null });
    const s2 = (await h.call({ Command: 'user.login', APIKey: bound.key })).SessionID;
    expect((await h.call({ Command: 'emailgateway.getdomains', SessionID: s2 })).ErrorCode).toBe(0);
    await h.services.db('user_api_keys').where({ id: bound.id }).update({ bound_ip: '192.0.2.7' });
    expect((await h.call({ Command: 'emailgateway.getdomains', SessionID: s2 })).ErrorCode).toBe(99998);
    await h.services.db('user_api_keys').where({ id: bound.id }).update({ bound_ip: null });
    expect((await h.call({ Command: 'emailgateway.getdomains', SessionID: s2 })).ErrorCode).toBe(0);
    expect((await h.call({ Command: 'user.apikey.delete', SessionID: u.sessionId, APIKeyID: bound.id })).Success).toBe(true);
    expect((await h.call({ Command: 'emailgateway.getdomains', SessionID: s2 })).ErrorCode).toBe(99998);
  });
});

it('the suppression commands need EmailGateway.ManageDomain', async () => {
  const u = await createUser(h);
  const rk = await userKey(u.sessionId, { Permissions: 'Lists.Get' });
  const calls: Record<string, unknown>[] = [
    { Command: 'suppression.browse' },
    { Command: 'suppression.check', EmailAddresses: ['a@x.test'] },
    { Command: 'suppression.delete', EmailAddress: 'a@x.test' },
    { Command: 'suppression.import', EmailAddresses: ['a@x.test'] },
    { Command: 'suppression.stats' },
    { Command: 'suppression.whitelist.get' },
    { Command: 'suppression.whitelist.set', Entries: ['*'] },
  ];
  for (const c of calls) expect({ c: c.Command, code: (await h.call({ ...c, APIKey: rk.key })).ErrorCode }).toEqual({ c: c.Command, code: DENIED });
  expect((await h.call({ Command: 'suppression.whitelist.get', SessionID: u.sessionId })).Success).toBe(true);
});

it("an account key reaches what its account's group may do, no more", async () => {
  const [group] = await h.services.db('user_groups').insert({ name: `no-campaigns-${Date.now()}`, permissions: 'User.Update,Lists.Get' });
  const u = await createUser(h, { RelUserGroupID: Number(group) });
  const made = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'platform', KeyType: 'account' });
  const key: string = made.APIKey.APIKey;
  const r = await h.request('POST', '/api/v1/campaigns', { headers: { Authorization: `Bearer ${key}` }, body: { name: 'bypass', subject: 's' } });
  expect(r.status).toBe(403);
  expect(r.body.error).toMatch(/Campaign.Create/);
  expect(await h.services.db('campaigns').where({ user_id: u.userId }).count({ n: '*' })).toEqual([{ n: 0 }]);
});

it("a disabled account's sender key reads and changes nothing (code 2); its sends answer 12", async () => {
  const s = await senderSetup(h);
  await h.services.db('users').where({ id: s.userId }).update({ account_status: 'Disabled' });
  h.services.store.credentials.forgetAll(); // as user.update does in the process that disables the account
  const get = await h.request('GET', '/api/v1/emails', { headers: { Authorization: `Bearer ${s.key}` } });
  expect(get.body.Errors?.[0]?.Code).toBe(2);
  const add = await h.request('POST', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}` }, body: { EmailAddress: 'x@y.test' } });
  expect(add.body.Errors?.[0]?.Code).toBe(2);
  const send = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 's', ContentType: 'plain', PlainContent: 'b', From: { email: `a@${s.domain}` }, To: [{ email: 'r@dest.test' }] },
  });
  expect(send.body.Errors?.[0]?.Code).toBe(12);
});

describe('admin sessions opened with the AdminAPIKey', () => {
  it('end when the key is reset (admin.apikey.reset) or ADMIN_API_KEY changes between starts', async () => {
    const g = await startHarness({ ADMIN_API_KEY: '' });
    try {
      const key = await resetAdminApiKey(g.services.db); // the generated key, known to this test
      const open = async () => (await g.call({ Command: 'admin.login', AdminAPIKey: key })).SessionID as string;
      const session = await open();
      const before = (await g.call({ Command: 'users.get', SessionID: session })) as { ErrorCode?: unknown };
      expect(before.ErrorCode ?? 0).toBe(0);
      const reset = await g.call({ Command: 'admin.apikey.reset', SessionID: session });
      expect(reset.AdminAPIKey).toMatch(/^pa_/);
      expect((await g.call({ Command: 'users.get', SessionID: session })).ErrorCode).toBe(99998);
      expect((await g.call({ Command: 'users.get', AdminAPIKey: key })).ErrorCode).toBe(99998);
      expect((await g.call({ Command: 'users.get', AdminAPIKey: reset.AdminAPIKey })).ErrorCode ?? 0).toBe(0);
    } finally {
      await g.close();
    }
    // ADMIN_API_KEY from the environment: a start with another key ends the sessions; a start with the same keeps them.
    const session = (await h.call({ Command: 'admin.login', AdminAPIKey: h.adminKey })).SessionID as string;
    await ensureAdmin(h.services.db, h.services.config);
    expect((await h.call({ Command: 'users.get', SessionID: session })).ErrorCode ?? 0).toBe(0);
    await ensureAdmin(h.services.db, { ...h.services.config, adminApiKey: `${h.adminKey}-replaced` });
    expect((await h.call({ Command: 'users.get', SessionID: session })).ErrorCode).toBe(99998);
  });
});
