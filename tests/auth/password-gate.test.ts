import { PasswordGate, PasswordGateBusy } from '../../src/auth/password-gate';
import { hashPassword } from '../../src/auth/secrets';
import { createUser, Harness, startHarness } from '../helpers/harness';

// One check at a time and two waiting, so a handful of logins sent together overflow the gate.
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ PASSWORD_CHECK_CONCURRENCY: '1', PASSWORD_CHECK_QUEUE: '2' });
});
afterAll(async () => {
  await h.close();
});

const BUSY = 'Too many sign-ins on this server at once: try again in a few seconds';

describe('password checks a few at once per process', () => {
  it('refuses user.login as busy past the queue, and does not count the refused attempts as failures', async () => {
    const u = await createUser(h);
    // The production cost (tens of ms a check), so eight logins sent together all reach the gate while the first runs.
    await h.services
      .db('users')
      .where({ username: u.username })
      .update({ password_hash: await hashPassword(u.password, 15) });
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => h.call({ Command: 'user.login', Username: u.username, Password: `wrong-${i}` })));
    const checked = replies.filter((r) => r.ErrorCode[0] === 3).length;
    const busy = replies.filter((r) => r.ErrorCode[0] === 4);
    expect(checked + busy.length).toBe(8);
    expect(checked).toBeGreaterThanOrEqual(1);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    for (const r of busy) expect(r.ErrorText).toEqual([BUSY]);
    // Ten failures lock the account for this client: the refused attempts were refunded, so exactly 10 - checked
    // more wrong passwords are still checked, and only then is the right one refused.
    for (let i = checked; i < 10; i++) {
      expect((await h.call({ Command: 'user.login', Username: u.username, Password: `again-${i}` })).ErrorCode).toEqual([3]);
    }
    const locked = await h.call({ Command: 'user.login', Username: u.username, Password: u.password });
    expect(locked.ErrorCode).toEqual([4]);
    expect(locked.ErrorText[0]).toMatch(/^Too many failed login attempts/);
  });

  it('refuses admin.login as busy the same way, and signs in once the checks have drained', async () => {
    const admin = await h.services.db('admins').orderBy('id').first('id', 'username');
    await h.services
      .db('admins')
      .where({ id: admin.id })
      .update({ password_hash: await hashPassword('the-admin-password', 15) });
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h.call({ Command: 'admin.login', Username: admin.username, Password: `guess-${i}` })),
    );
    const busy = replies.filter((r) => r.ErrorCode === 4);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    expect(replies.filter((r) => r.ErrorCode === 3).length + busy.length).toBe(8);
    for (const r of busy) expect(r.ErrorText).toBe(BUSY);
    const ok = await h.call({ Command: 'admin.login', Username: admin.username, Password: 'the-admin-password' });
    expect(ok).toMatchObject({ Success: true, SessionID: expect.any(String) });
  });

  it('runs a lone check with no queue allowed, and refuses only what is past the running and the queued', async () => {
    const stored = await hashPassword('right', 10);
    const none = new PasswordGate(1, 0);
    expect(await none.verify('right', stored, 10)).toBe(true);
    const [a, b] = [none.verify('right', stored, 10), none.verify('wrong', stored, 10)];
    await expect(b).rejects.toBeInstanceOf(PasswordGateBusy);
    expect(await a).toBe(true);
    const two = new PasswordGate(1, 1);
    expect(await Promise.all([two.verify('right', stored, 10), two.verify('wrong', stored, 10)])).toEqual([true, false]);
  });
});
