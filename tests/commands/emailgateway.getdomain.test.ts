import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('emailgateway.getdomain', () => {
  it('returns the domain with its options and DNS records', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const id = await addDomain(h, u.sessionId, name);
    const r = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, Domain: { DomainID: id, SenderDomain: name, Status: 'Approval Pending' } });
    expect(r.Domain.Options).toEqual({ LinkTracking: 1, OpenTracking: 1, UnsubscribeLink: 0, TrackPrefixDisabled: false });
    expect(r.Domain.VerificationMeta.DNSRecords[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
  });

  it('answers ErrorCode [1] when DomainID is missing', async () => {
    const u = await createUser(h);
    const r = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId });
    expect(r).toMatchObject({ Success: false, ErrorCode: [1] });
  });

  it('answers ErrorCode 2 for a domain owned by another user, exactly as for a missing one', async () => {
    const owner = await createUser(h);
    const other = await createUser(h);
    const id = await addDomain(h, owner.sessionId, uniqueDomain());
    const foreign = await h.call({ Command: 'emailgateway.getdomain', SessionID: other.sessionId, DomainID: id });
    const missing = await h.call({ Command: 'emailgateway.getdomain', SessionID: other.sessionId, DomainID: 999999 });
    expect(foreign).toEqual(missing);
    expect(foreign).toMatchObject({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
  });
});
