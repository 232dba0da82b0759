import crypto from 'node:crypto';
import { createUser, Harness, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

let seq = 0;
/** A complete, valid user.create call with a fresh username and address; `over` changes or (undefined) drops fields. */
function params(over: Record<string, unknown> = {}): Record<string, unknown> {
  seq += 1;
  const name = `create${seq}_${crypto.randomBytes(3).toString('hex')}`;
  const p: Record<string, unknown> = {
    Command: 'user.create',
    AdminAPIKey: h.adminKey,
    RelUserGroupID: 1,
    EmailAddress: `${name}@example.com`,
    Username: name,
    Password: 'a good long password',
    FirstName: 'First',
    TimeZone: 'Europe/Istanbul',
    Language: 'en',
    ...over,
  };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  return p;
}

async function userCount(): Promise<number> {
  const [{ n }] = await h.services.db('users').count({ n: '*' });
  return Number(n);
}

describe('user.create', () => {
  it('creates the user and answers its UserID', async () => {
    const p = params({ LastName: 'Last', CompanyName: 'ACME', AccountStatus: 'Enabled', ReputationLevel: 'Untrusted', LimitEmailSendPerDay: 100 });
    const r = await h.call(p);
    expect(r).toEqual({ Success: true, ErrorCode: 0, UserID: expect.any(Number) });
    expect(r.UserID).toBeGreaterThan(0);
    const got = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: r.UserID });
    expect(got.UserInfo).toMatchObject({
      UserID: r.UserID,
      RelUserGroupID: 1,
      Username: p.Username,
      EmailAddress: p.EmailAddress,
      FirstName: 'First',
      LastName: 'Last',
      CompanyName: 'ACME',
      TimeZone: 'Europe/Istanbul',
      Language: 'en',
      AccountStatus: 'Enabled',
      ReputationLevel: 'Untrusted',
      LimitEmailSendPerDay: '100',
    });
    const login = await h.call({ Command: 'user.login', Username: p.Username, Password: p.Password });
    expect(login).toMatchObject({ Success: true, UserInfo: { UserID: r.UserID } });
  });

  it('accepts CompanyName in place of FirstName', async () => {
    const r = await h.call(params({ FirstName: undefined, CompanyName: 'Only Company Ltd' }));
    expect(r).toMatchObject({ Success: true, UserID: expect.any(Number) });
  });

  it('defaults AccountStatus to Enabled and ReputationLevel to Trusted', async () => {
    const r = await h.call(params());
    const got = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: r.UserID });
    expect(got.UserInfo).toMatchObject({ AccountStatus: 'Enabled', ReputationLevel: 'Trusted', AvailableCredits: 0 });
  });

  it('stores the password as scrypt, never in the clear', async () => {
    const p = params({ Password: 'plaintext-canary-9876' });
    const r = await h.call(p);
    const row = await h.services.db('users').where({ id: r.UserID }).first();
    expect(row.password_hash.startsWith('scrypt$')).toBe(true);
    expect(row.password_hash).not.toContain('plaintext-canary-9876');
    expect(JSON.stringify(row)).not.toContain('plaintext-canary-9876');
  });

  it('gives two users with the same password different hashes', async () => {
    const a = await h.call(params({ Password: 'same password both' }));
    const b = await h.call(params({ Password: 'same password both' }));
    const rows = await h.services.db('users').whereIn('id', [a.UserID, b.UserID]).pluck('password_hash');
    expect(rows).toHaveLength(2);
    expect(rows[0]).not.toBe(rows[1]);
  });

  describe('error codes (arrays)', () => {
    const cases: [string, Record<string, unknown>, number[]][] = [
      ['1 when RelUserGroupID is missing', { RelUserGroupID: undefined }, [1]],
      ['2 when EmailAddress is missing', { EmailAddress: undefined }, [2]],
      ['3 when Username is missing', { Username: undefined }, [3]],
      ['4 when Password is missing', { Password: undefined }, [4]],
      ['5 when Password is shorter than 8 characters', { Password: 'short7c' }, [5]],
      ['6 when neither FirstName nor CompanyName is given', { FirstName: undefined }, [6]],
      ['6 when FirstName and CompanyName are blank', { FirstName: '', CompanyName: '   ' }, [6]],
      ['7 for a Username with a space', { Username: 'has space' }, [7]],
      ['7 for a Username shorter than 3 characters', { Username: 'ab' }, [7]],
      ['8 when TimeZone is missing', { TimeZone: undefined }, [8]],
      ['9 when Language is missing', { Language: undefined }, [9]],
      ['10 for a malformed EmailAddress', { EmailAddress: 'not-an-email' }, [10]],
      ['10 for an EmailAddress without a domain dot', { EmailAddress: 'someone@localhost' }, [10]],
      ['11 for an unknown user group', { RelUserGroupID: 999 }, [11]],
      ['11 for a non-numeric user group', { RelUserGroupID: 'abc' }, [11]],
      ['14 for a malformed Language', { Language: 'english' }, [14]],
      ['15 for an unknown ReputationLevel', { ReputationLevel: 'Medium' }, [15]],
      ['17 for an unknown AccountStatus', { AccountStatus: 'Paused' }, [17]],
      ['18 for an unknown TimeZone', { TimeZone: 'Mars/Base' }, [18]],
      ['20 for a negative limit', { LimitEmailSendPerDay: -1 }, [20]],
      ['20 for a fractional limit', { LimitEmailGatewaySenderDomains: 1.5 }, [20]],
      ['20 for negative credits', { AvailableCredits: -5 }, [20]],
    ];
    it.each(cases)('answers %s', async (_name, over, codes) => {
      const before = await userCount();
      const r = await h.call(params(over));
      expect(r).toMatchObject({ Success: false, ErrorCode: codes });
      expect(Array.isArray(r.ErrorText)).toBe(true);
      expect(r.ErrorText).toHaveLength(codes.length);
      expect(await userCount()).toBe(before);
    });

    it('answers 12 for a username already taken, compared case-insensitively', async () => {
      const first = params();
      expect(await h.call(first)).toMatchObject({ Success: true });
      const r = await h.call(params({ Username: String(first.Username).toUpperCase() }));
      expect(r).toEqual({ Success: false, ErrorCode: [12], ErrorText: ['Username is already taken'] });
    });

    it('answers 13 for an email address already in use, compared case-insensitively', async () => {
      const first = params();
      expect(await h.call(first)).toMatchObject({ Success: true });
      const r = await h.call(params({ EmailAddress: String(first.EmailAddress).toUpperCase() }));
      expect(r).toEqual({ Success: false, ErrorCode: [13], ErrorText: ['Email address is already in use'] });
    });

    it('answers [12,13] when both the username and the address are taken', async () => {
      const first = params();
      await h.call(first);
      const r = await h.call(params({ Username: first.Username, EmailAddress: first.EmailAddress }));
      expect(r).toMatchObject({ Success: false, ErrorCode: [12, 13] });
    });

    it('reports several missing parameters at once, sorted, with aligned texts', async () => {
      const r = await h.call(params({ Password: undefined, Username: undefined, EmailAddress: undefined }));
      expect(r).toEqual({
        Success: false,
        ErrorCode: [2, 3, 4],
        ErrorText: ['Missing required parameter (EmailAddress)', 'Missing required parameter (Username)', 'Missing required parameter (Password)'],
      });
    });

    it('reports every missing and malformed schema field together, sorted', async () => {
      const r = await h.call(
        params({ TimeZone: undefined, Language: 'english', RelUserGroupID: undefined, Password: 'short', ReputationLevel: 'x', LimitEmailSendPerPeriod: -3 }),
      );
      expect(r).toMatchObject({ Success: false, ErrorCode: [1, 5, 8, 14, 15, 20] });
    });

    it('reports several invalid values at once, sorted', async () => {
      const r = await h.call(params({ TimeZone: 'Mars/Base', EmailAddress: 'bad@', RelUserGroupID: 999 }));
      expect(r).toMatchObject({ Success: false, ErrorCode: [10, 11, 18] });
    });

    it('reports a missing name together with the other missing parameters', async () => {
      const r = await h.call(params({ EmailAddress: undefined, Username: undefined, Password: undefined, FirstName: undefined }));
      expect(r).toMatchObject({ Success: false, ErrorCode: [2, 3, 4, 6] });
    });
  });

  describe('authentication', () => {
    it('answers 99998 without an admin credential', async () => {
      const p = params();
      delete p.AdminAPIKey;
      const r = await h.call(p);
      expect(r).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
    });

    it('answers 99998 for a wrong AdminAPIKey', async () => {
      const r = await h.call(params({ AdminAPIKey: 'test-admin-wrong' }));
      expect(r).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
    });

    it('answers 99998 for a user’s SessionID and creates nobody', async () => {
      const u = await createUser(h);
      const before = await userCount();
      const p = params({ SessionID: u.sessionId });
      delete p.AdminAPIKey;
      const r = await h.call(p);
      expect(r).toEqual({ Success: false, ErrorCode: 99998, ErrorText: 'Authentication failure or session expired' });
      expect(await userCount()).toBe(before);
    });

    it('checks authentication before validation (scalar 99998 even with bad fields)', async () => {
      const r = await h.call({ Command: 'user.create', AdminAPIKey: 'nope' });
      expect(r).toMatchObject({ Success: false, ErrorCode: 99998 });
    });
  });
});
