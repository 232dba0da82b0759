import supertest from 'supertest';
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
    supertest(h.app)
      .post('/api.php')
      .set('X-Forwarded-For', ip)
      .send({ Command: 'user.login', ...params })
      .then((r) => r.body);

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
