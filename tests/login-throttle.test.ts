import { createUser, Harness, startHarness } from './helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('failed-login throttling', () => {
  it('refuses user.login with [4] after 10 failures for one account from one address, even with the right password', async () => {
    const u = await createUser(h);
    for (let i = 0; i < 10; i++) {
      const r = await h.call({ Command: 'user.login', Username: u.username, Password: `wrong-${i}` });
      expect(r.ErrorCode).toEqual([3]);
    }
    const blocked = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
    expect(blocked.Success).toBe(false);
    expect(blocked.ErrorCode).toEqual([4]);
    expect(blocked.ErrorText[0]).toMatch(/^Too many failed login attempts: try again in \d+ seconds$/);
    expect(blocked.SessionID).toBeUndefined();
  });

  it('counts guesses sent all at once: 10 get a password check, the rest [4], and the right password then too', async () => {
    const u = await createUser(h);
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => h.call({ Command: 'user.login', Username: u.username, Password: `wrong-${i}` })));
    const codes = replies.map((r) => r.ErrorCode[0]);
    expect(codes.filter((c) => c === 3)).toHaveLength(10);
    expect(codes.filter((c) => c === 4)).toHaveLength(20);
    expect((await h.call({ Command: 'user.login', Username: u.username, Password: u.password })).ErrorCode).toEqual([4]);
  });

  it("does not hold one account's failures against another account", async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    for (let i = 0; i < 10; i++) await h.call({ Command: 'user.login', Username: a.username, Password: 'nope-nope' });
    const ok = await h.call({ Command: 'user.login', Username: b.username, Password: b.password });
    expect(ok.Success).toBe(true);
  });

  it('clears the count after a successful login', async () => {
    const u = await createUser(h);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 9; i++) await h.call({ Command: 'user.login', Username: u.username, Password: 'nope-nope' });
      const ok = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
      expect(ok.Success).toBe(true);
    }
  });

  it('throttles admin.login guesses of the AdminAPIKey with code 4', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await h.call({ Command: 'admin.login', AdminAPIKey: `guess-${i}-xxxxxxxxxxxx` });
      expect(r.ErrorCode).toBe(3);
    }
    const blocked = await h.call({ Command: 'admin.login', AdminAPIKey: h.adminKey });
    expect(blocked).toMatchObject({ Success: false, ErrorCode: 4 });
  });
});

describe('failed-login throttling by network', () => {
  const login = (ip: string, params: Record<string, unknown>) =>
    h.request('POST', '/api.php', { headers: { 'X-Forwarded-For': ip }, body: { Command: 'user.login', ...params } }).then((r) => r.body);

  it("counts an IPv6 client by its /64: other addresses of the same network are held too, another network's are not", async () => {
    const u = await createUser(h);
    for (let i = 0; i < 10; i++) expect((await login(`2001:db8:7:7::${i + 1}`, { Username: u.username, Password: `wrong-${i}` })).ErrorCode).toEqual([3]);
    expect((await login('2001:db8:7:7:ffff::1', { Username: u.username, Password: u.password })).ErrorCode).toEqual([4]);
    expect((await login('2001:db8:7:8::1', { Username: u.username, Password: u.password })).Success).toBe(true);
    // IPv4 addresses stay apart.
    const v = await createUser(h);
    for (let i = 0; i < 10; i++) await login('192.0.2.10', { Username: v.username, Password: `wrong-${i}` });
    expect((await login('192.0.2.10', { Username: v.username, Password: v.password })).ErrorCode).toEqual([4]);
    expect((await login('192.0.2.11', { Username: v.username, Password: v.password })).Success).toBe(true);
  });
});

describe('failed-login throttling across networks (one account guessed at from many)', () => {
  const call = (ip: string, params: Record<string, unknown>) =>
    h.request('POST', '/api.php', { headers: { 'X-Forwarded-For': ip }, body: params }).then((r) => r.body);

  it('holds an account after 50 failures from anywhere, except for a client that logged in to it before; keys and other accounts still work', async () => {
    const u = await createUser(h);
    const home = '198.51.100.7';
    expect((await call(home, { Command: 'user.login', Username: u.username, Password: u.password })).Success).toBe(true);
    const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'escape hatch' })).APIKey.APIKey;
    // 50 networks, one guess each: no single client reaches its own limit of 10.
    for (let i = 0; i < 50; i++)
      expect((await call(`203.0.${113 + (i % 2)}.${i + 1}`, { Command: 'user.login', Username: u.username, Password: `guess-${i}` })).ErrorCode).toEqual([3]);
    const stranger = await call('192.0.2.200', { Command: 'user.login', Username: u.username.toUpperCase(), Password: u.password });
    expect(stranger).toMatchObject({ Success: false, ErrorCode: [4] });
    expect(stranger.ErrorText[0]).toMatch(/^Too many failed login attempts: try again in \d+ seconds$/);
    expect(stranger.SessionID).toBeUndefined();
    // The owner, from where they signed in before, is not locked out by the guessing.
    expect((await call(home, { Command: 'user.login', Username: u.username, Password: u.password })).Success).toBe(true);
    // Nor is a login with one of the account's keys, nor another account, from the stranger's address.
    expect((await call('192.0.2.200', { Command: 'user.login', APIKey: key })).Success).toBe(true);
    const v = await createUser(h);
    expect((await call('192.0.2.200', { Command: 'user.login', Username: v.username, Password: v.password })).Success).toBe(true);
  });

  // MySQL's collation reads `name`, `name ` and `NAME  ` as one account; SQLite's finds no account for the last two.
  (process.env.POSTERN_TEST_DB === 'sqlite' ? it.skip : it)(
    'counts guesses under names the database reads as the same account (trailing spaces) against that one account',
    async () => {
      const u = await createUser(h);
      for (let i = 0; i < 50; i++) {
        const variant = `${u.username}${' '.repeat(1 + (i % 40))}`;
        expect((await call(`203.0.116.${i + 1}`, { Command: 'user.login', Username: variant, Password: `guess-${i}` })).ErrorCode).toEqual([3]);
      }
      expect(await call('192.0.2.203', { Command: 'user.login', Username: u.username, Password: u.password })).toMatchObject({
        Success: false,
        ErrorCode: [4],
      });
    },
  );

  it("holds the admin's name the same way, while the AdminAPIKey still opens a session", async () => {
    const admin = (await h.services.db('admins').orderBy('id').first('username')).username as string;
    for (let i = 0; i < 50; i++)
      expect((await call(`203.0.115.${i + 1}`, { Command: 'admin.login', Username: admin, Password: `guess-${i}` })).ErrorCode).toBe(3);
    expect(await call('192.0.2.201', { Command: 'admin.login', Username: admin, Password: 'still-guessing' })).toMatchObject({ Success: false, ErrorCode: 4 });
    expect((await call('192.0.2.201', { Command: 'admin.login', AdminAPIKey: h.adminKey })).Success).toBe(true);
  });

  it('does not count failed key logins against an account named like them', async () => {
    const created = await h.call({
      Command: 'user.create',
      AdminAPIKey: h.adminKey,
      RelUserGroupID: 1,
      EmailAddress: 'apikey@example.com',
      Username: 'apikey',
      Password: 'correct horse battery',
      FirstName: 'Named',
      TimeZone: 'UTC',
      Language: 'en',
    });
    expect(created.Success).toBe(true);
    for (let i = 0; i < 10; i++) expect((await call('192.0.2.202', { Command: 'user.login', APIKey: `nope-${i}-xxxxxxxxxxxxxxxx` })).ErrorCode).toEqual([3]);
    expect((await call('192.0.2.202', { Command: 'user.login', APIKey: 'nope-x-xxxxxxxxxxxxxxxx' })).ErrorCode).toEqual([4]);
    expect((await call('192.0.2.202', { Command: 'user.login', Username: 'apikey', Password: 'correct horse battery' })).Success).toBe(true);
  });
});
