import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

function del(params: Record<string, unknown>): Promise<any> {
  return h.call({ Command: 'user.delete', AdminAPIKey: h.adminKey, ...params });
}

async function exists(userId: number): Promise<boolean> {
  const r = await h.call({ Command: 'user.get', AdminAPIKey: h.adminKey, UserID: userId });
  if (r.Success) return true;
  expect(r).toMatchObject({ ErrorCode: 2 });
  return false;
}

describe('user.delete', () => {
  it('deletes one user by UserID', async () => {
    const u = await createUser(h);
    const keep = await createUser(h);
    const r = await del({ UserID: u.userId });
    expect(r).toEqual({ Success: true, ErrorCode: 0 });
    expect(await exists(u.userId)).toBe(false);
    expect(await exists(keep.userId)).toBe(true);
    expect(await h.call({ Command: 'user.login', Username: u.username, Password: u.password })).toMatchObject({ ErrorCode: [3] });
  });

  it('deletes several users given as a comma-separated Users list', async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    const keep = await createUser(h);
    const r = await del({ Users: `${a.userId}, ${b.userId}` });
    expect(r).toEqual({ Success: true, ErrorCode: 0 });
    expect(await exists(a.userId)).toBe(false);
    expect(await exists(b.userId)).toBe(false);
    expect(await exists(keep.userId)).toBe(true);
  });

  it('answers [1] when neither UserID nor Users is given', async () => {
    const r = await del({});
    expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (UserID or Users)'] });
  });

  it('answers 2 for an unknown UserID', async () => {
    const r = await del({ UserID: 999999 });
    expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'User not found' });
  });

  it('deletes nothing when one id of several is unknown', async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    await addDomain(h, a.sessionId, uniqueDomain());
    const r = await del({ Users: `${a.userId},999999,${b.userId}` });
    expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'User not found' });
    expect(await exists(a.userId)).toBe(true);
    expect(await exists(b.userId)).toBe(true);
    expect(await h.call({ Command: 'user.current', SessionID: a.sessionId })).toMatchObject({ Success: true });
    const domains = await h.call({ Command: 'emailgateway.getdomains', SessionID: a.sessionId });
    expect(domains.Domains).toHaveLength(1);
  });

  it('removes the user’s domains, API keys and sessions with it', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const domainId = await addDomain(h, u.sessionId, name);
    const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'gone' })).APIKey.APIKey;
    expect(await del({ UserID: u.userId })).toMatchObject({ Success: true });

    expect(await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId })).toEqual({
      Success: false,
      ErrorCode: 99998,
      ErrorText: 'Authentication failure or session expired',
    });
    expect(await h.call({ Command: 'user.current', APIKey: key })).toMatchObject({ Success: false, ErrorCode: [1] });
    expect(await h.services.db('sender_domains').where({ id: domainId }).first()).toBeUndefined();
    expect(await h.services.db('user_api_keys').where({ user_id: u.userId }).first()).toBeUndefined();
    expect(await h.services.db('sessions').where({ kind: 'user', subject_id: u.userId }).first()).toBeUndefined();

    // The domain name is free again for another account.
    const other = await createUser(h);
    const again = await h.call({ Command: 'emailgateway.adddomain', SessionID: other.sessionId, DomainName: name });
    expect(again).toMatchObject({ Success: true, NewSenderDomainID: expect.any(Number) });
  });

  it('leaves other users’ domains in place', async () => {
    const gone = await createUser(h);
    const keep = await createUser(h);
    await addDomain(h, gone.sessionId, uniqueDomain());
    const keptId = await addDomain(h, keep.sessionId, uniqueDomain());
    await del({ UserID: gone.userId });
    const r = await h.call({ Command: 'emailgateway.getdomains', SessionID: keep.sessionId });
    expect(r.Domains.map((d: any) => d.DomainID)).toEqual([keptId]);
  });

  it('answers 2 when the user was already deleted', async () => {
    const u = await createUser(h);
    await del({ UserID: u.userId });
    expect(await del({ UserID: u.userId })).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'User not found' });
  });

  it('answers 99998 for a user SessionID, even the user’s own', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'user.delete', SessionID: u.sessionId, UserID: u.userId });
    expect(r).toMatchObject({ Success: false, ErrorCode: 99998 });
    expect(await exists(u.userId)).toBe(true);
  });
});
