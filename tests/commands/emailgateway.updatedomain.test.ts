import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const update = (sessionId: string, params: Record<string, unknown>) => h.call({ Command: 'emailgateway.updatedomain', SessionID: sessionId, ...params });
const get = (sessionId: string, id: number) => h.call({ Command: 'emailgateway.getdomain', SessionID: sessionId, DomainID: id });

/** Marks the domain verified directly in the store, so a status reset is visible. */
async function enable(id: number): Promise<void> {
  await h.services.db('sender_domains').where({ id }).update({ status: 'Enabled', last_verified_at: Date.now() });
}

async function enabledDomain(extra: Record<string, unknown> = {}) {
  const u = await createUser(h);
  const name = uniqueDomain();
  const id = await addDomain(h, u.sessionId, name, extra);
  await enable(id);
  const before = await get(u.sessionId, id);
  expect(before.Domain.Status).toBe('Enabled');
  return { u, name, id, before };
}

describe('emailgateway.updatedomain', () => {
  it('changes LinkTracking, OpenTracking and UnsubscribeLink without resetting the status', async () => {
    const { u, id, before } = await enabledDomain();
    const r = await update(u.sessionId, { DomainID: id, LinkTracking: 0, OpenTracking: 0, UnsubscribeLink: 1 });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0, SubdomainChanged: false, Domain: { DomainID: id, Status: 'Enabled' } });
    expect(r.Domain.Options).toEqual({ LinkTracking: 0, OpenTracking: 0, UnsubscribeLink: 1, TrackPrefixDisabled: false });
    expect(r.Domain.VerificationMeta.DNSRecords).toEqual(before.Domain.VerificationMeta.DNSRecords);
    expect(r.Domain.LastVerifiedAt).toBe(before.Domain.LastVerifiedAt);

    const after = await get(u.sessionId, id);
    expect(after.Domain.Status).toBe('Enabled');
    expect(after.Domain.Options).toEqual({ LinkTracking: 0, OpenTracking: 0, UnsubscribeLink: 1, TrackPrefixDisabled: false });
  });

  it('turns tracking options back on with truthy strings', async () => {
    const { u, id } = await enabledDomain();
    await update(u.sessionId, { DomainID: id, LinkTracking: 0, OpenTracking: 0 });
    const r = await update(u.sessionId, { DomainID: id, LinkTracking: 'true', OpenTracking: '1', UnsubscribeLink: 'yes' });
    expect(r.Domain.Options).toMatchObject({ LinkTracking: 1, OpenTracking: 1, UnsubscribeLink: 1 });
    expect(r.SubdomainChanged).toBe(false);
  });

  it('leaves options that are not sent as they were', async () => {
    const { u, id } = await enabledDomain();
    await update(u.sessionId, { DomainID: id, UnsubscribeLink: 1 });
    const r = await update(u.sessionId, { DomainID: id, LinkTracking: 0 });
    expect(r.Domain.Options).toEqual({ LinkTracking: 0, OpenTracking: 1, UnsubscribeLink: 1, TrackPrefixDisabled: false });
  });

  it('stores HostingProvider without resetting the status', async () => {
    const { u, id } = await enabledDomain();
    const r = await update(u.sessionId, { DomainID: id, HostingProvider: 'cloudflare' });
    expect(r).toMatchObject({ Success: true, SubdomainChanged: false, Domain: { Status: 'Enabled', Options: { HostingProvider: 'cloudflare' } } });
  });

  it('regenerates the records and resets the status to Approval Pending when Subdomain changes', async () => {
    const { u, name, id, before } = await enabledDomain();
    const r = await update(u.sessionId, { DomainID: id, Subdomain: 'outbound' });
    expect(r).toMatchObject({
      Success: true,
      ErrorCode: 0,
      SubdomainChanged: true,
      Domain: {
        DomainID: id,
        SenderDomain: name,
        Status: 'Approval Pending',
        MFROMDomain: `outbound.${name}`,
        TrackingDomain: `track-outbound.${name}`,
        LastVerifiedAt: null,
      },
    });
    expect(r.Domain.Options.CustomSubdomain).toBe('outbound');
    const map = r.Domain.VerificationMeta.DNSRecords;
    expect(Object.keys(map).sort()).toEqual([`_dmarc.${name}`, `key1._domainkey.${name}`, `outbound.${name}`, `track-outbound.${name}`].sort());
    expect(map[`outbound.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    // The DKIM key is kept: only the hosts moved.
    expect(map[`key1._domainkey.${name}`]).toEqual(before.Domain.VerificationMeta.DNSRecords[`key1._domainkey.${name}`]);

    const after = await get(u.sessionId, id);
    expect(after.Domain.Status).toBe('Approval Pending');
    expect(after.Domain.VerificationMeta.DNSRecords).toEqual(map);
    const row = await h.services.db('sender_domains').where({ id }).first();
    expect(row.status).toBe('Approval Pending');
    expect(row.last_verified_at).toBeNull();
  });

  it('resets the status when TrackPrefix changes', async () => {
    const { u, name, id } = await enabledDomain();
    const r = await update(u.sessionId, { DomainID: id, TrackPrefix: 'links' });
    expect(r).toMatchObject({ SubdomainChanged: true, Domain: { Status: 'Approval Pending', MFROMDomain: `sl.${name}`, TrackingDomain: `links-sl.${name}` } });
    expect(r.Domain.Options.CustomTrackPrefix).toBe('links');
    expect(r.Domain.VerificationMeta.DNSRecords[`links-sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(r.Domain.VerificationMeta.DNSRecords[`track-sl.${name}`]).toBeUndefined();
  });

  it('resets the status when TrackMerge changes', async () => {
    const { u, name, id } = await enabledDomain();
    const r = await update(u.sessionId, { DomainID: id, TrackMerge: '.' });
    expect(r).toMatchObject({
      SubdomainChanged: true,
      Domain: { Status: 'Approval Pending', TrackingDomain: `track.sl.${name}`, Options: { CustomTrackMerge: '.' } },
    });
    expect(r.Domain.VerificationMeta.DNSRecords[`track.sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
  });

  it('drops the tracking record and resets the status when TrackPrefixDisabled is set, and restores it when cleared', async () => {
    const { u, name, id } = await enabledDomain();
    const off = await update(u.sessionId, { DomainID: id, TrackPrefixDisabled: 1 });
    expect(off).toMatchObject({ SubdomainChanged: true, Domain: { Status: 'Approval Pending', MFROMDomain: `sl.${name}`, TrackingDomain: `sl.${name}` } });
    expect(off.Domain.Options.TrackPrefixDisabled).toBe(true);
    expect(Object.keys(off.Domain.VerificationMeta.DNSRecords).sort()).toEqual([`_dmarc.${name}`, `key1._domainkey.${name}`, `sl.${name}`].sort());

    await enable(id);
    const on = await update(u.sessionId, { DomainID: id, TrackPrefixDisabled: 0 });
    expect(on).toMatchObject({ SubdomainChanged: true, Domain: { Status: 'Approval Pending', TrackingDomain: `track-sl.${name}` } });
    expect(on.Domain.Options.TrackPrefixDisabled).toBe(false);
    expect(on.Domain.VerificationMeta.DNSRecords[`track-sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
  });

  it('does not count re-sending the current Subdomain as a change', async () => {
    const { u, name, id } = await enabledDomain({ Subdomain: 'outbound' });
    const r = await update(u.sessionId, { DomainID: id, Subdomain: 'OUTBOUND' });
    expect(r).toMatchObject({ Success: true, SubdomainChanged: false, Domain: { Status: 'Enabled', MFROMDomain: `outbound.${name}` } });
  });

  it("resets an empty Subdomain to the default 'sl'", async () => {
    const { u, name, id } = await enabledDomain({ Subdomain: 'outbound', TrackPrefix: 'links' });
    const r = await update(u.sessionId, { DomainID: id, Subdomain: '' });
    expect(r).toMatchObject({ SubdomainChanged: true, Domain: { Status: 'Approval Pending', MFROMDomain: `sl.${name}`, TrackingDomain: `links-sl.${name}` } });
    expect(r.Domain.Options.CustomSubdomain).toBeUndefined();
    expect(r.Domain.Options.CustomTrackPrefix).toBe('links');
    expect(r.Domain.VerificationMeta.DNSRecords[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(r.Domain.VerificationMeta.DNSRecords[`outbound.${name}`]).toBeUndefined();
  });

  it('resets an empty TrackPrefix to the default track prefix', async () => {
    const { u, name, id } = await enabledDomain({ TrackPrefix: 'links' });
    const r = await update(u.sessionId, { DomainID: id, TrackPrefix: '' });
    expect(r).toMatchObject({ SubdomainChanged: true, Domain: { TrackingDomain: `track-sl.${name}` } });
    expect(r.Domain.Options.CustomTrackPrefix).toBeUndefined();
  });

  it('keeps an admin-set Disabled status when the hosts change', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const id = await addDomain(h, u.sessionId, name);
    await h.services.db('sender_domains').where({ id }).update({ status: 'Disabled' });
    const r = await update(u.sessionId, { DomainID: id, Subdomain: 'outbound' });
    expect(r).toMatchObject({ Success: true, SubdomainChanged: true, Domain: { Status: 'Disabled', MFROMDomain: `outbound.${name}` } });
  });

  describe('errors', () => {
    it('answers ErrorCode [1] when DomainID is missing', async () => {
      const u = await createUser(h);
      const r = await update(u.sessionId, { LinkTracking: 0 });
      expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainID)'] });
    });

    it('answers ErrorCode 5 for a domain owned by another user, exactly as for a missing one, and changes nothing', async () => {
      const owner = await createUser(h);
      const other = await createUser(h);
      const name = uniqueDomain();
      const id = await addDomain(h, owner.sessionId, name);
      await enable(id);
      const foreign = await update(other.sessionId, { DomainID: id, Subdomain: 'hijack', LinkTracking: 0 });
      const missing = await update(other.sessionId, { DomainID: 999999, Subdomain: 'hijack', LinkTracking: 0 });
      expect(foreign).toEqual(missing);
      expect(foreign).toEqual({ Success: false, ErrorCode: 5, ErrorText: 'Domain not found or access denied' });

      const still = await get(owner.sessionId, id);
      expect(still.Domain).toMatchObject({ Status: 'Enabled', MFROMDomain: `sl.${name}`, Options: { LinkTracking: 1 } });
    });

    it.each([
      ['Subdomain', '-lead'],
      ['Subdomain', 'trail-'],
      ['Subdomain', 'a'.repeat(33)],
      ['Subdomain', 'under_score'],
      ['TrackPrefix', '-lead'],
      ['TrackPrefix', 'b'.repeat(33)],
      ['TrackPrefix', 'under_score'],
      ['TrackMerge', 'x'],
    ])('answers ErrorCode [6] for %s %j and leaves the domain as it was', async (param, value) => {
      const { u, name, id } = await enabledDomain();
      const r = await update(u.sessionId, { DomainID: id, [param]: value });
      expect(r).toEqual({ Success: false, ErrorCode: [6], ErrorText: ['Invalid subdomain or track prefix value'] });
      const still = await get(u.sessionId, id);
      expect(still.Domain).toMatchObject({ Status: 'Enabled', MFROMDomain: `sl.${name}`, TrackingDomain: `track-sl.${name}` });
    });

    it('answers ErrorCode [6], like any other bad Subdomain, for a composed tracking label over 63 characters', async () => {
      const { u, name, id } = await enabledDomain({ Subdomain: 's'.repeat(32) });
      const r = await update(u.sessionId, { DomainID: id, TrackPrefix: 't'.repeat(31) }); // 31 + '-' + 32 = 64
      expect(r).toEqual({ Success: false, ErrorCode: [6], ErrorText: ['Invalid subdomain or track prefix value'] });
      const still = await get(u.sessionId, id);
      expect(still.Domain).toMatchObject({ Status: 'Enabled', TrackingDomain: `track-${'s'.repeat(32)}.${name}` });
    });
  });
});
