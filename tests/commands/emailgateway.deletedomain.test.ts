import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const del = (sessionId: string, params: Record<string, unknown>) => h.call({ Command: 'emailgateway.deletedomain', SessionID: sessionId, ...params });

/** A domain with one API key and two SMTP credentials. */
async function domainWithCredentials(sessionId: string) {
  const name = uniqueDomain();
  const id = await addDomain(h, sessionId, name);
  const key = await h.call({ Command: 'emailgateway.addapi', SessionID: sessionId, DomainID: id, Description: 'k' });
  const s1 = await h.call({ Command: 'emailgateway.addsmtp', SessionID: sessionId, DomainID: id });
  const s2 = await h.call({ Command: 'emailgateway.addsmtp', SessionID: sessionId, DomainID: id });
  if (!key.Success || !s1.Success || !s2.Success) throw new Error(`credential setup failed: ${JSON.stringify([key, s1, s2])}`);
  return { name, id };
}

describe('emailgateway.deletedomain', () => {
  it('deletes the domain, after which getdomain answers 2 and getdomains no longer lists it', async () => {
    const u = await createUser(h);
    const keep = await addDomain(h, u.sessionId, uniqueDomain());
    const name = uniqueDomain();
    const id = await addDomain(h, u.sessionId, name);

    const r = await del(u.sessionId, { DomainID: id });
    expect(r).toEqual({ Success: true, ErrorCode: 0 });

    const got = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    expect(got).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
    const listed = await h.call({ Command: 'emailgateway.getdomains', SessionID: u.sessionId });
    expect(listed.Domains.map((d: any) => d.DomainID)).toEqual([keep]);
    expect(await h.services.db('sender_domains').where({ id })).toHaveLength(0);
    expect(await h.services.db('sender_domains').where({ domain: name })).toHaveLength(0);
  });

  it("removes the domain's API keys and SMTP credentials and no other domain's", async () => {
    const u = await createUser(h);
    const doomed = await domainWithCredentials(u.sessionId);
    const kept = await domainWithCredentials(u.sessionId);
    expect(await h.services.db('domain_api_keys').where({ domain_id: doomed.id })).toHaveLength(1);
    expect(await h.services.db('smtp_credentials').where({ domain_id: doomed.id })).toHaveLength(2);

    expect(await del(u.sessionId, { DomainID: doomed.id })).toMatchObject({ Success: true });

    expect(await h.services.db('domain_api_keys').where({ domain_id: doomed.id })).toHaveLength(0);
    expect(await h.services.db('smtp_credentials').where({ domain_id: doomed.id })).toHaveLength(0);
    expect(await h.services.db('domain_api_keys').where({ domain_id: kept.id })).toHaveLength(1);
    expect(await h.services.db('smtp_credentials').where({ domain_id: kept.id })).toHaveLength(2);
    const [row] = (await h.call({ Command: 'emailgateway.getdomains', SessionID: u.sessionId, WithCounts: 1 })).Domains;
    expect(row).toMatchObject({ DomainID: kept.id, APIKeyCount: 1, SMTPCount: 2 });
  });

  it('frees the domain name for a new registration, by the same or another user', async () => {
    const owner = await createUser(h);
    const other = await createUser(h);
    const name = uniqueDomain();
    const id = await addDomain(h, owner.sessionId, name);
    await del(owner.sessionId, { DomainID: id });
    const again = await h.call({ Command: 'emailgateway.adddomain', SessionID: other.sessionId, DomainName: name });
    expect(again).toMatchObject({ Success: true, Domain: { SenderDomain: name, Status: 'Approval Pending' } });
    expect(again.NewSenderDomainID).not.toBe(id);
  });

  it('frees a slot under the sender-domain limit', async () => {
    const u = await createUser(h, { LimitEmailGatewaySenderDomains: 1 });
    const id = await addDomain(h, u.sessionId, uniqueDomain());
    const blocked = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: uniqueDomain() });
    expect(blocked).toMatchObject({ Success: false, ErrorCode: [3] });
    await del(u.sessionId, { DomainID: id });
    const r = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: uniqueDomain() });
    expect(r.Success).toBe(true);
  });

  describe('errors', () => {
    it('answers ErrorCode [1] when DomainID is missing', async () => {
      const u = await createUser(h);
      const r = await del(u.sessionId, {});
      expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });
    });

    it('answers ErrorCode 2 for a missing domain', async () => {
      const u = await createUser(h);
      const r = await del(u.sessionId, { DomainID: 999999 });
      expect(r).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
    });

    it('answers ErrorCode 2 when the domain was already deleted', async () => {
      const u = await createUser(h);
      const id = await addDomain(h, u.sessionId, uniqueDomain());
      expect((await del(u.sessionId, { DomainID: id })).Success).toBe(true);
      expect(await del(u.sessionId, { DomainID: id })).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
    });

    it('answers ErrorCode 2 for a domain owned by another user, exactly as for a missing one, and deletes nothing', async () => {
      const owner = await createUser(h);
      const other = await createUser(h);
      const { name, id } = await domainWithCredentials(owner.sessionId);
      const foreign = await del(other.sessionId, { DomainID: id });
      const missing = await del(other.sessionId, { DomainID: 999999 });
      expect(foreign).toEqual(missing);
      expect(foreign).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });

      const still = await h.call({ Command: 'emailgateway.getdomain', SessionID: owner.sessionId, DomainID: id });
      expect(still).toMatchObject({ Success: true, Domain: { DomainID: id, SenderDomain: name } });
      expect(await h.services.db('domain_api_keys').where({ domain_id: id })).toHaveLength(1);
      expect(await h.services.db('smtp_credentials').where({ domain_id: id })).toHaveLength(2);
    });
  });
});
