/**
 * An IP-bound user API key (or a session opened with one) cannot make a key usable from elsewhere: with no
 * BoundIPAddress / AllowedIPs the new key inherits the caller's address, given ones must lie inside it (code 13),
 * on /api.php and on POST /api/v1/user.apikey. Password sessions and unbound keys are unaffected.
 */
import supertest from 'supertest';
import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const HOME = '10.9.8.7';

/** POST /api.php from `ip` (TRUST_PROXY is loopback: the forwarded header names the client). */
async function from(ip: string, params: Record<string, unknown>): Promise<any> {
  return (await supertest(h.app).post('/api.php').set('X-Forwarded-For', ip).send(params)).body;
}

/** A user with a key bound to HOME holding every permission (User.Update among them). */
async function boundKey(): Promise<{ sessionId: string; key: string }> {
  const u = await createUser(h);
  const r = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'bound', BoundIPAddress: HOME });
  expect(r.APIKey.BoundIPAddress).toBe(HOME);
  return { sessionId: u.sessionId, key: r.APIKey.APIKey };
}

async function keyCount(sessionId: string): Promise<number> {
  return (await h.call({ Command: 'user.apikey.list', SessionID: sessionId })).APIKeys.length;
}

describe('user.apikey.create by an IP-bound key', () => {
  it('gives a user key made without BoundIPAddress the caller’s binding', async () => {
    const b = await boundKey();
    const r = await from(HOME, { Command: 'user.apikey.create', APIKey: b.key, Note: 'child' });
    expect(r).toMatchObject({ Success: true, APIKey: { KeyType: 'user', BoundIPAddress: HOME } });
    expect((await from('10.9.8.8', { Command: 'user.current', APIKey: r.APIKey.APIKey })).Success).toBe(false);
    expect((await from(HOME, { Command: 'user.current', APIKey: r.APIKey.APIKey })).Success).toBe(true);
  });

  it('gives an account key made without AllowedIPs the caller’s address', async () => {
    const b = await boundKey();
    const r = await from(HOME, { Command: 'user.apikey.create', APIKey: b.key, Note: 'child', KeyType: 'account' });
    expect(r).toMatchObject({ Success: true, APIKey: { KeyType: 'account', AllowedIPs: [HOME] } });
  });

  it('accepts its own address again, in either spelling', async () => {
    const b = await boundKey();
    const same = await from(HOME, { Command: 'user.apikey.create', APIKey: b.key, Note: 'same', BoundIPAddress: `::ffff:${HOME}` });
    expect(same).toMatchObject({ Success: true, APIKey: { BoundIPAddress: HOME } });
    const acct = await from(HOME, { Command: 'user.apikey.create', APIKey: b.key, Note: 'same', KeyType: 'account', AllowedIPs: `${HOME}/32` });
    expect(acct).toMatchObject({ Success: true, APIKey: { AllowedIPs: [`${HOME}/32`] } });
  });

  it('refuses another BoundIPAddress with code 13 and makes no key', async () => {
    const b = await boundKey();
    const before = await keyCount(b.sessionId);
    const r = await from(HOME, { Command: 'user.apikey.create', APIKey: b.key, Note: 'escape', BoundIPAddress: '10.9.8.8' });
    expect(r).toEqual({ Success: false, ErrorCode: 13, ErrorText: expect.stringContaining('10.9.8.8 lies outside this key') });
    expect(await keyCount(b.sessionId)).toBe(before);
  });

  it.each([['10.9.8.0/24'], ['0.0.0.0/0'], [`${HOME}, 192.0.2.1`], ['::/0']])('refuses AllowedIPs %s (wider than the caller) with code 13', async (allowed) => {
    const b = await boundKey();
    const before = await keyCount(b.sessionId);
    const r = await from(HOME, { Command: 'user.apikey.create', APIKey: b.key, Note: 'escape', KeyType: 'account', AllowedIPs: allowed });
    expect(r).toMatchObject({ Success: false, ErrorCode: 13 });
    expect(r.ErrorText).toContain(`(${HOME})`);
    expect(await keyCount(b.sessionId)).toBe(before);
  });

  it('holds for a session opened with the bound key', async () => {
    const b = await boundKey();
    const login = await from(HOME, { Command: 'user.login', APIKey: b.key });
    expect(login.Success).toBe(true);
    const inherit = await from(HOME, { Command: 'user.apikey.create', SessionID: login.SessionID, Note: 'child' });
    expect(inherit).toMatchObject({ Success: true, APIKey: { BoundIPAddress: HOME } });
    const wider = await from(HOME, { Command: 'user.apikey.create', SessionID: login.SessionID, Note: 'x', KeyType: 'account', AllowedIPs: '10.0.0.0/8' });
    expect(wider).toMatchObject({ Success: false, ErrorCode: 13 });
  });

  it('holds on POST /api/v1/user.apikey (Errors[] with code 13; inherit otherwise)', async () => {
    const b = await boundKey();
    const api = supertest(h.app);
    const wider = await api
      .post('/api/v1/user.apikey')
      .set('X-Forwarded-For', HOME)
      .send({ APIKey: b.key, Note: 'x', KeyType: 'account', AllowedIPs: '0.0.0.0/0' });
    expect(wider.status).toBe(200);
    expect(wider.body).toEqual({ Errors: [{ Code: 13, Message: expect.stringContaining('0.0.0.0/0') }] });
    const inherit = await api.post('/api/v1/user.apikey').set('X-Forwarded-For', HOME).set('Authorization', `Bearer ${b.key}`).send({ Note: 'child' });
    expect(inherit.body).toMatchObject({ Success: true, APIKey: { BoundIPAddress: HOME } });
  });
});

describe('user.apikey.create by an unrestricted credential', () => {
  it('lets a password session and an unbound key make unbound keys and any AllowedIPs', async () => {
    const u = await createUser(h);
    const open = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'open' });
    expect(open.APIKey.BoundIPAddress).toBeNull();
    const child = await from(HOME, { Command: 'user.apikey.create', APIKey: open.APIKey.APIKey, Note: 'child' });
    expect(child).toMatchObject({ Success: true, APIKey: { BoundIPAddress: null } });
    const acct = await from(HOME, { Command: 'user.apikey.create', APIKey: open.APIKey.APIKey, Note: 'a', KeyType: 'account', AllowedIPs: '0.0.0.0/0' });
    expect(acct).toMatchObject({ Success: true, APIKey: { AllowedIPs: ['0.0.0.0/0'] } });
    const unbound = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'a', KeyType: 'account' });
    expect(unbound.APIKey.AllowedIPs).toBeNull();
  });
});
