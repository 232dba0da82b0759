import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('emailgateway.getalldomains (admin)', () => {
  it("lists every user's domains with their owner, filtered and paged", async () => {
    const a = await createUser(h);
    const b = await createUser(h);
    const da = await addDomain(h, a.sessionId, uniqueDomain('alpha'));
    const db = await addDomain(h, b.sessionId, uniqueDomain('beta'));
    await h.services.db('sender_domains').where({ id: db }).update({ status: 'Enabled' });
    const admin = await h.call({ Command: 'admin.login', AdminAPIKey: h.adminKey });
    const all = await h.call({ Command: 'emailgateway.getalldomains', SessionID: admin.SessionID });
    expect(all).toMatchObject({ Success: true, ErrorCode: 0, TotalDomainCount: 2 });
    expect(all.Domains.map((d: { DomainID: number; UserID: number; Username: string }) => [d.DomainID, d.UserID, d.Username])).toEqual([
      [da, a.userId, a.username],
      [db, b.userId, b.username],
    ]);
    const get = async (p: Record<string, unknown>) =>
      (await h.call({ Command: 'emailgateway.getalldomains', AdminAPIKey: h.adminKey, ...p })).Domains.map((d: { DomainID: number }) => d.DomainID);
    expect(await get({ UserID: b.userId })).toEqual([db]);
    expect(await get({ Status: 'Enabled' })).toEqual([db]);
    expect(await get({ Search: 'ALPHA' })).toEqual([da]);
    expect(await get({ Search: '%' })).toEqual([]);
    expect(await get({ RecordsPerRequest: 1, RecordsFrom: 1 })).toEqual([db]);
  });

  it('refuses a user session (99998) and bad paging ([1])', async () => {
    const u = await createUser(h);
    expect(await h.call({ Command: 'emailgateway.getalldomains', SessionID: u.sessionId })).toMatchObject({ Success: false, ErrorCode: 99998 });
    expect(await h.call({ Command: 'emailgateway.getalldomains', AdminAPIKey: h.adminKey, RecordsPerRequest: 0 })).toMatchObject({
      Success: false,
      ErrorCode: [1],
    });
  });
});
