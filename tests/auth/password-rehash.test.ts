/**
 * A login that proves a password hashed with other scrypt parameters than PASSWORD_HASH_COST (the cost was raised
 * since) stores a new hash at the current cost, so a raised cost reaches every account that signs in.
 */
import { hashPassword } from '../../src/auth/secrets';
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
