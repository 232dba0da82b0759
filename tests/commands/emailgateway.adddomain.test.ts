import crypto from 'node:crypto';
import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const add = (sessionId: string, params: Record<string, unknown>) => h.call({ Command: 'emailgateway.adddomain', SessionID: sessionId, ...params });

/** The `p=` tag of a DKIM record value. */
function dkimP(value: string): string {
  const m = /(?:^|;)\s*p=([^;]*)/.exec(value);
  if (!m) throw new Error(`no p= tag in ${value}`);
  return m[1].replace(/\s+/g, '');
}

describe('emailgateway.adddomain', () => {
  it('registers the domain and answers NewSenderDomainID with the domain in Approval Pending on the default hosts', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: name });
    expect(r).toMatchObject({ Success: true, ErrorCode: 0 });
    expect(Number.isInteger(r.NewSenderDomainID)).toBe(true);
    expect(r.NewSenderDomainID).toBeGreaterThan(0);
    expect(r.Domain).toMatchObject({
      DomainID: r.NewSenderDomainID,
      SenderDomain: name,
      Status: 'Approval Pending',
      MFROMDomain: `sl.${name}`,
      TrackingDomain: `track-sl.${name}`,
      DKIMSelector: 'key1',
      LastVerifiedAt: null,
    });
    expect(r.Domain.CreatedAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(r.Domain.Options).toEqual({ LinkTracking: 1, OpenTracking: 1, UnsubscribeLink: 0, TrackPrefixDisabled: false });
  });

  it('publishes the MFROM CNAME, a 2048-bit DKIM key, the tracking CNAME and an optional DMARC record', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: name });
    const map = r.Domain.VerificationMeta.DNSRecords;
    expect(Object.keys(map).sort()).toEqual([`_dmarc.${name}`, `key1._domainkey.${name}`, `sl.${name}`, `track-sl.${name}`].sort());
    expect(map[`sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(map[`track-sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(map[`_dmarc.${name}`]).toEqual(['TXT', 'v=DMARC1; p=none']);

    const [type, dkim] = map[`key1._domainkey.${name}`];
    expect(type).toBe('TXT');
    expect(dkim).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+=*$/);
    const key = crypto.createPublicKey({ key: Buffer.from(dkimP(dkim), 'base64'), format: 'der', type: 'spki' });
    expect(key.asymmetricKeyType).toBe('rsa');
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);

    const byHost = Object.fromEntries(r.Domain.DNSRecords.map((d: any) => [d.Host, d]));
    expect(byHost[`sl.${name}`]).toEqual({
      Host: `sl.${name}`,
      Type: 'CNAME',
      Value: 'mx.postern.test',
      Required: true,
      Purpose: 'mfrom',
      Verified: null,
      Found: null,
    });
    expect(byHost[`key1._domainkey.${name}`]).toMatchObject({ Type: 'TXT', Value: dkim, Required: true, Purpose: 'dkim' });
    expect(byHost[`track-sl.${name}`]).toMatchObject({ Type: 'CNAME', Required: true, Purpose: 'tracking' });
    expect(byHost[`_dmarc.${name}`]).toMatchObject({ Type: 'TXT', Required: false, Purpose: 'dmarc' });
    expect(r.Domain.DNSRecords).toHaveLength(4);
  });

  it('gives each domain its own DKIM key', async () => {
    const u = await createUser(h);
    const a = uniqueDomain();
    const b = uniqueDomain();
    const ra = await add(u.sessionId, { DomainName: a });
    const rb = await add(u.sessionId, { DomainName: b });
    expect(dkimP(ra.Domain.VerificationMeta.DNSRecords[`key1._domainkey.${a}`][1])).not.toBe(
      dkimP(rb.Domain.VerificationMeta.DNSRecords[`key1._domainkey.${b}`][1]),
    );
  });

  it('uses Subdomain and TrackPrefix overrides for the MFROM and tracking hosts', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: name, Subdomain: 'outbound', TrackPrefix: 'links' });
    expect(r.Success).toBe(true);
    expect(r.Domain.Options).toEqual({
      LinkTracking: 1,
      OpenTracking: 1,
      UnsubscribeLink: 0,
      CustomSubdomain: 'outbound',
      CustomTrackPrefix: 'links',
      TrackPrefixDisabled: false,
    });
    expect(r.Domain.MFROMDomain).toBe(`outbound.${name}`);
    expect(r.Domain.TrackingDomain).toBe(`links-outbound.${name}`);
    expect(r.Domain.VerificationMeta.DNSRecords[`outbound.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(r.Domain.VerificationMeta.DNSRecords[`links-outbound.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(r.Domain.VerificationMeta.DNSRecords[`sl.${name}`]).toBeUndefined();
  });

  it('lowercases Subdomain and TrackPrefix overrides', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: name, Subdomain: 'OutBound', TrackPrefix: 'Links' });
    expect(r.Domain.Options).toMatchObject({ CustomSubdomain: 'outbound', CustomTrackPrefix: 'links' });
    expect(r.Domain.TrackingDomain).toBe(`links-outbound.${name}`);
  });

  it("joins prefix and subdomain with TrackMerge '.' as a separate DNS label", async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: name, TrackMerge: '.' });
    expect(r.Success).toBe(true);
    expect(r.Domain.TrackingDomain).toBe(`track.sl.${name}`);
    expect(r.Domain.Options.CustomTrackMerge).toBe('.');
    expect(r.Domain.VerificationMeta.DNSRecords[`track.sl.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
  });

  it('tracks on the MFROM host and drops the tracking record when TrackPrefixDisabled=1', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: name, TrackPrefixDisabled: 1 });
    expect(r.Success).toBe(true);
    expect(r.Domain.Options.TrackPrefixDisabled).toBe(true);
    expect(r.Domain.MFROMDomain).toBe(`sl.${name}`);
    expect(r.Domain.TrackingDomain).toBe(`sl.${name}`);
    expect(Object.keys(r.Domain.VerificationMeta.DNSRecords).sort()).toEqual([`_dmarc.${name}`, `key1._domainkey.${name}`, `sl.${name}`].sort());
    expect(r.Domain.DNSRecords.map((d: any) => d.Purpose).sort()).toEqual(['dkim', 'dmarc', 'mfrom']);
  });

  it('keeps the separate tracking host when TrackPrefixDisabled=0', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: name, TrackPrefixDisabled: 0 });
    expect(r.Domain.Options.TrackPrefixDisabled).toBe(false);
    expect(r.Domain.TrackingDomain).toBe(`track-sl.${name}`);
  });

  it('stores an internationalised domain name as punycode', async () => {
    const u = await createUser(h);
    const r = await add(u.sessionId, { DomainName: 'bücher.example' });
    expect(r).toMatchObject({ Success: true, Domain: { SenderDomain: 'xn--bcher-kva.example', MFROMDomain: 'sl.xn--bcher-kva.example' } });
    const row = await h.services.db('sender_domains').where({ id: r.NewSenderDomainID }).first();
    expect(row.domain).toBe('xn--bcher-kva.example');
  });

  it('lowercases the domain name and drops a trailing dot', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const r = await add(u.sessionId, { DomainName: `${name.toUpperCase()}.` });
    expect(r.Domain.SenderDomain).toBe(name);
  });

  it('starts a re-added own domain over: same id, new key and settings, back to Approval Pending', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const first = await add(u.sessionId, { DomainName: name });
    await h.services.db('sender_domains').where({ id: first.NewSenderDomainID }).update({ status: 'Enabled', last_verified_at: Date.now() });

    const again = await add(u.sessionId, { DomainName: name, Subdomain: 'bounce' });
    expect(again).toMatchObject({ Success: true, ErrorCode: 0, NewSenderDomainID: first.NewSenderDomainID });
    expect(again.Domain).toMatchObject({ DomainID: first.NewSenderDomainID, Status: 'Approval Pending', LastVerifiedAt: null, MFROMDomain: `bounce.${name}` });
    const oldKey = dkimP(first.Domain.VerificationMeta.DNSRecords[`key1._domainkey.${name}`][1]);
    const newKey = dkimP(again.Domain.VerificationMeta.DNSRecords[`key1._domainkey.${name}`][1]);
    expect(newKey).not.toBe(oldKey);

    const rows = await h.services.db('sender_domains').where({ domain: name });
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('Approval Pending');
  });

  it("keeps an admin's Disabled or Suspended through a re-add (only Approval Pending is promoted once records verify)", async () => {
    const u = await createUser(h);
    for (const held of ['Disabled', 'Suspended']) {
      const name = uniqueDomain();
      const first = await add(u.sessionId, { DomainName: name });
      await h.services.db('sender_domains').where({ id: first.NewSenderDomainID }).update({ status: held });
      const again = await add(u.sessionId, { DomainName: name });
      expect(again).toMatchObject({ Success: true, NewSenderDomainID: first.NewSenderDomainID });
      expect(again.Domain.Status).toBe(held);
      expect((await h.services.db('sender_domains').where({ id: first.NewSenderDomainID }).first()).status).toBe(held);
    }
  });

  it('stores the DKIM private key encrypted, not as PEM', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const id = await addDomain(h, u.sessionId, name);
    const row = await h.services.db('sender_domains').where({ id }).first();
    expect(typeof row.dkim_private_key_enc).toBe('string');
    expect(row.dkim_private_key_enc.length).toBeGreaterThan(100);
    expect(row.dkim_private_key_enc).not.toContain('PRIVATE KEY');
    expect(row.dkim_private_key_enc).not.toContain('-----');
  });

  describe('errors', () => {
    it('answers ErrorCode [1] when DomainName is missing', async () => {
      const u = await createUser(h);
      const r = await add(u.sessionId, {});
      expect(r).toEqual({ Success: false, ErrorCode: [1], ErrorText: ['Missing required parameter (DomainName)'] });
    });

    it('answers ErrorCode [1] when DomainName is empty', async () => {
      const u = await createUser(h);
      const r = await add(u.sessionId, { DomainName: '' });
      expect(r).toMatchObject({ Success: false, ErrorCode: [1] });
    });

    it.each([
      'not a domain',
      'localhost',
      '127.0.0.1',
      'a..b.com',
      'example',
      '-bad.example.com',
      'bad-.example.com',
      'printer.local',
      'user@example.com',
      '::1',
      'under_score.example.com',
      'example.123',
    ])('answers ErrorCode [2] for the malformed domain name %j', async (bad) => {
      const u = await createUser(h);
      const r = await add(u.sessionId, { DomainName: bad });
      expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['Invalid domain name format'] });
    });

    it('answers ErrorCode [2] for a domain name longer than 253 characters', async () => {
      const u = await createUser(h);
      const long = `${Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.')}.com`;
      const r = await add(u.sessionId, { DomainName: long });
      expect(r).toMatchObject({ Success: false, ErrorCode: [2] });
    });

    it('answers ErrorCode [2] naming another account when a second user adds the same domain', async () => {
      const owner = await createUser(h);
      const other = await createUser(h);
      const name = uniqueDomain();
      const id = await addDomain(h, owner.sessionId, name);
      const r = await add(other.sessionId, { DomainName: name.toUpperCase() });
      expect(r).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['Domain is already registered by another account'] });
      const still = await h.call({ Command: 'emailgateway.getdomain', SessionID: owner.sessionId, DomainID: id });
      expect(still).toMatchObject({ Success: true, Domain: { DomainID: id, SenderDomain: name } });
      const rows = await h.services.db('sender_domains').where({ domain: name });
      expect(rows).toHaveLength(1);
      expect(Number(rows[0].user_id)).toBe(owner.userId);
    });

    it('gives the domain to exactly one of two users adding it at the same time', async () => {
      const a = await createUser(h);
      const b = await createUser(h);
      const name = uniqueDomain();
      const replies = await Promise.all([add(a.sessionId, { DomainName: name }), add(b.sessionId, { DomainName: name })]);
      expect(replies.filter((r) => r.Success)).toHaveLength(1);
      expect(replies.find((r) => !r.Success)).toEqual({ Success: false, ErrorCode: [2], ErrorText: ['Domain is already registered by another account'] });
      expect(await h.services.db('sender_domains').where({ domain: name })).toHaveLength(1);
    });

    it('answers ErrorCode [3] when the user reached the sender-domain limit', async () => {
      const u = await createUser(h, { LimitEmailGatewaySenderDomains: 1 });
      await addDomain(h, u.sessionId, uniqueDomain());
      const second = uniqueDomain();
      const r = await add(u.sessionId, { DomainName: second });
      expect(r).toEqual({ Success: false, ErrorCode: [3], ErrorText: ['Maximum sender domains limit reached for user'] });
      expect(await h.services.db('sender_domains').where({ domain: second })).toHaveLength(0);
    });

    it('lets a user at the limit re-add a domain they already own', async () => {
      const u = await createUser(h, { LimitEmailGatewaySenderDomains: 1 });
      const name = uniqueDomain();
      const id = await addDomain(h, u.sessionId, name);
      const r = await add(u.sessionId, { DomainName: name });
      expect(r).toMatchObject({ Success: true, NewSenderDomainID: id });
    });

    it('does not let concurrent adds overshoot the sender-domain limit', async () => {
      const u = await createUser(h, { LimitEmailGatewaySenderDomains: 1 });
      const replies = await Promise.all([add(u.sessionId, { DomainName: uniqueDomain() }), add(u.sessionId, { DomainName: uniqueDomain() })]);
      expect(replies.filter((r) => r.Success)).toHaveLength(1);
      expect(replies.find((r) => !r.Success)).toMatchObject({ Success: false, ErrorCode: [3] });
      expect(await h.services.db('sender_domains').where({ user_id: u.userId })).toHaveLength(1);
    });

    it.each([
      ['Subdomain', '-lead'],
      ['Subdomain', 'trail-'],
      ['Subdomain', 'a'.repeat(33)],
      ['Subdomain', 'under_score'],
      ['Subdomain', 'dot.ted'],
      ['TrackPrefix', '-lead'],
      ['TrackPrefix', 'b'.repeat(33)],
      ['TrackPrefix', 'under_score'],
      ['TrackMerge', 'x'],
      ['TrackMerge', '--'],
    ])('answers ErrorCode [4] for %s %j', async (param, value) => {
      const u = await createUser(h);
      const name = uniqueDomain();
      const r = await add(u.sessionId, { DomainName: name, [param]: value });
      expect(r).toEqual({ Success: false, ErrorCode: [4], ErrorText: ['Invalid subdomain or track prefix value'] });
      expect(await h.services.db('sender_domains').where({ domain: name })).toHaveLength(0);
    });

    it('accepts Subdomain and TrackPrefix of exactly 32 characters', async () => {
      const u = await createUser(h);
      const name = uniqueDomain();
      const r = await add(u.sessionId, { DomainName: name, Subdomain: 's'.repeat(32), TrackPrefix: 't'.repeat(30), TrackMerge: '.' });
      expect(r.Success).toBe(true);
      expect(r.Domain.MFROMDomain).toBe(`${'s'.repeat(32)}.${name}`);
    });

    it('answers ErrorCode [4] for a composed tracking label over 63 characters', async () => {
      const u = await createUser(h);
      const name = uniqueDomain();
      const r = await add(u.sessionId, { DomainName: name, Subdomain: 's'.repeat(32), TrackPrefix: 't'.repeat(31) }); // 31 + '-' + 32 = 64
      expect(r).toEqual({ Success: false, ErrorCode: [4], ErrorText: ['Invalid subdomain or track prefix value'] });
      expect(await h.services.db('sender_domains').where({ domain: name })).toHaveLength(0);
    });

    it('accepts a composed tracking label of exactly 63 characters', async () => {
      const u = await createUser(h);
      const name = uniqueDomain();
      const r = await add(u.sessionId, { DomainName: name, Subdomain: 's'.repeat(32), TrackPrefix: 't'.repeat(30) }); // 30 + '-' + 32 = 63
      expect(r.Success).toBe(true);
      expect(r.Domain.TrackingDomain).toBe(`${'t'.repeat(30)}-${'s'.repeat(32)}.${name}`);
    });

    it('answers 99998 without credentials', async () => {
      const r = await h.call({ Command: 'emailgateway.adddomain', DomainName: uniqueDomain() });
      expect(r).toMatchObject({ Success: false, ErrorCode: 99998 });
    });
  });
});
