/**
 * A login that proves a password hashed with other scrypt parameters than PASSWORD_HASH_COST (the cost was raised
 * since) stores a new hash at the current cost, so a raised cost reaches every account that signs in.
 */
import { PasswordGate } from '../../src/auth/password-gate';
import { hashPassword, scrypt } from '../../src/auth/secrets';
import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  // 2^11 here, fixtures' 2^10 as the "old" cost: both cheap (the production floor is 15, see tests/config.test.ts).
  h = await startHarness({ PASSWORD_HASH_COST: '11' });
});
afterAll(async () => {
  await h.close();
});

const costOf = (hash: string) => Number(hash.split('$')[1]);

describe('password hashes follow PASSWORD_HASH_COST', () => {
  it("upgrades a user's older hash at a successful login, and not at a failed one", async () => {
    const u = await createUser(h);
    const old = await hashPassword(u.password, 10);
    await h.services.db('users').where({ id: u.userId }).update({ password_hash: old });

    expect(await h.call({ Command: 'user.login', Username: u.username, Password: 'wrong password' })).toMatchObject({ Success: false });
    expect((await h.services.db('users').where({ id: u.userId }).first()).password_hash).toBe(old);

    expect(await h.call({ Command: 'user.login', Username: u.username, Password: u.password })).toMatchObject({ Success: true });
    const upgraded = (await h.services.db('users').where({ id: u.userId }).first()).password_hash;
    expect(costOf(upgraded)).toBe(2 ** 11);
    // The new hash is the same password's: the next login works, and leaves it as it is.
    expect(await h.call({ Command: 'user.login', Username: u.username, Password: u.password })).toMatchObject({ Success: true });
    expect((await h.services.db('users').where({ id: u.userId }).first()).password_hash).toBe(upgraded);
  });

  it("upgrades the admin's older hash at admin.login", async () => {
    const admin = await h.services.db('admins').orderBy('id').first();
    await h.services
      .db('admins')
      .where({ id: admin.id })
      .update({ password_hash: await hashPassword('admin secret 1', 10) });
    expect(await h.call({ Command: 'admin.login', Username: admin.username, Password: 'admin secret 1' })).toMatchObject({ Success: true });
    expect(costOf((await h.services.db('admins').where({ id: admin.id }).first()).password_hash)).toBe(2 ** 11);
    expect(await h.call({ Command: 'admin.login', Username: admin.username, Password: 'admin secret 1' })).toMatchObject({ Success: true });
  });
});

/**
 * Until a user signs in again their hash keeps the cost it was made at, which checks faster than the burn a login
 * naming no account spends at the current cost: a wrong password would answer sooner than an unknown name. Each
 * scrypt run's N is recorded through a gate built as src/services.ts builds it; the work a login does is their sum.
 */
describe('a wrong password for an older hash costs what an unknown name does', () => {
  let runs: number[] = [];
  beforeAll(() => {
    const c = h.services.config;
    h.services.passwords = new PasswordGate(c.passwordCheckConcurrency, c.passwordCheckQueue, (pw, salt, len, opts) => {
      runs.push(opts.N!);
      return scrypt(pw, salt, len, opts);
    });
  });
  const spend = async (params: Record<string, unknown>) => {
    runs = [];
    const reply = await h.call(params);
    return { reply, runs, work: runs.reduce((a, b) => a + b, 0) };
  };

  it.each([11, 10, 9])('user.login, the account hashed at 2^%i', async (old) => {
    const u = await createUser(h);
    await h.services
      .db('users')
      .where({ id: u.userId })
      .update({ password_hash: await hashPassword(u.password, old) });
    const unknown = await spend({ Command: 'user.login', Username: `nobody-${u.username}`, Password: 'wrong password' });
    const known = await spend({ Command: 'user.login', Username: u.username, Password: 'wrong password' });
    expect([unknown.reply.ErrorCode, known.reply.ErrorCode]).toEqual([[3], [3]]);
    expect(unknown.work).toBe(2 ** 11);
    expect(known.runs[0]).toBe(2 ** old); // the account's own hash, then the padding
    expect(known.work).toBe(unknown.work);
  });

  it.each([11, 10])('admin.login, the admin hashed at 2^%i', async (old) => {
    const admin = await h.services.db('admins').orderBy('id').first();
    await h.services
      .db('admins')
      .where({ id: admin.id })
      .update({ password_hash: await hashPassword('admin secret 2', old) });
    const unknown = await spend({ Command: 'admin.login', Username: `nobody-${old}`, Password: 'wrong password' });
    const known = await spend({ Command: 'admin.login', Username: admin.username, Password: 'wrong password' });
    expect([unknown.reply.ErrorCode, known.reply.ErrorCode]).toEqual([3, 3]);
    expect(unknown.work).toBe(2 ** 11);
    expect(known.runs[0]).toBe(2 ** old);
    expect(known.work).toBe(unknown.work);
  });
});
