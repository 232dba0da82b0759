import { addDomain, createUser, Harness, startHarness, uniqueDomain } from '../helpers/harness';
import { seed } from '../stats/seed';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ WEBHOOK_ALLOW_PRIVATE: '1' }); // a loopback webhook URL (no worker runs here)
});
afterAll(async () => {
  await h.close();
});

const list = (sessionId: string, params: Record<string, unknown> = {}) => h.call({ Command: 'emailgateway.getdomains', SessionID: sessionId, ...params });

async function addKey(sessionId: string, domainId: number): Promise<void> {
  const r = await h.call({ Command: 'emailgateway.addapi', SessionID: sessionId, DomainID: domainId, Description: 'test key' });
  if (!r.Success) throw new Error(`addapi failed: ${JSON.stringify(r)}`);
}

async function addSmtp(sessionId: string, domainId: number): Promise<number> {
  const r = await h.call({ Command: 'emailgateway.addsmtp', SessionID: sessionId, DomainID: domainId });
  if (!r.Success) throw new Error(`addsmtp failed: ${JSON.stringify(r)}`);
  return r.NewSMTPID;
}

describe('emailgateway.getdomains', () => {
  it("lists the caller's domains in creation order and none of another user's", async () => {
    const me = await createUser(h);
    const other = await createUser(h);
    const a = uniqueDomain('a');
    const b = uniqueDomain('b');
    const idA = await addDomain(h, me.sessionId, a);
    const foreignId = await addDomain(h, other.sessionId, uniqueDomain('other'));
    const idB = await addDomain(h, me.sessionId, b);

    const r = await list(me.sessionId);
    expect(r.Success).toBe(true);
    expect(r.Domains.map((d: any) => [d.DomainID, d.SenderDomain])).toEqual([
      [idA, a],
      [idB, b],
    ]);
    expect(r.Domains.map((d: any) => d.DomainID)).not.toContain(foreignId);

    const theirs = await list(other.sessionId);
    expect(theirs.Domains.map((d: any) => d.DomainID)).toEqual([foreignId]);
  });

  it('answers an empty list for a user without domains', async () => {
    const u = await createUser(h);
    const r = await list(u.sessionId);
    expect(r).toMatchObject({ Success: true, Domains: [] });
  });

  it('gives each row the contract fields with an integer DomainID', async () => {
    const u = await createUser(h);
    const name = uniqueDomain();
    const id = await addDomain(h, u.sessionId, name, { Subdomain: 'outbound' });
    const r = await list(u.sessionId);
    expect(r.Domains).toHaveLength(1);
    const [row] = r.Domains;
    // The contract's fields, and Postern's DeletionStartedAt (null: no deletion under way; deletion-mark.test.ts).
    expect(Object.keys(row).sort()).toEqual([
      'CreatedAt',
      'DeletionStartedAt',
      'DomainID',
      'Options',
      'PolicyMeta',
      'SenderDomain',
      'Status',
      'VerificationMeta',
    ]);
    expect(row.DeletionStartedAt).toBeNull();
    expect(row.DomainID).toBe(id);
    expect(Number.isInteger(row.DomainID)).toBe(true);
    expect(row.SenderDomain).toBe(name);
    expect(row.Status).toBe('Approval Pending');
    expect(row.CreatedAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(row.PolicyMeta).toEqual([]);
    expect(row.Options).toEqual({ LinkTracking: 1, OpenTracking: 1, UnsubscribeLink: 0, CustomSubdomain: 'outbound', TrackPrefixDisabled: false });
    expect(Object.keys(row.VerificationMeta)).toEqual(['DNSRecords']);
    expect(row.VerificationMeta.DNSRecords[`outbound.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(row.VerificationMeta.DNSRecords[`track-outbound.${name}`]).toEqual(['CNAME', 'mx.postern.test']);
    expect(row.VerificationMeta.DNSRecords[`key1._domainkey.${name}`][1]).toMatch(/^v=DKIM1; k=rsa; p=/);

    const one = await h.call({ Command: 'emailgateway.getdomain', SessionID: u.sessionId, DomainID: id });
    expect(row.VerificationMeta.DNSRecords).toEqual(one.Domain.VerificationMeta.DNSRecords);
    expect(row.CreatedAt).toBe(one.Domain.CreatedAt);
  });

  it('shows the current status and options after changes', async () => {
    const u = await createUser(h);
    const id = await addDomain(h, u.sessionId, uniqueDomain());
    await h.services.db('sender_domains').where({ id }).update({ status: 'Enabled' });
    const upd = await h.call({ Command: 'emailgateway.updatedomain', SessionID: u.sessionId, DomainID: id, LinkTracking: 0, UnsubscribeLink: 1 });
    expect(upd.Success).toBe(true);
    const [row] = (await list(u.sessionId)).Domains;
    expect(row.Status).toBe('Enabled');
    expect(row.Options).toEqual({ LinkTracking: 0, OpenTracking: 1, UnsubscribeLink: 1, TrackPrefixDisabled: false });
  });

  it('adds APIKeyCount and SMTPCount per domain with WithCounts=1', async () => {
    const u = await createUser(h);
    const busy = await addDomain(h, u.sessionId, uniqueDomain());
    const idle = await addDomain(h, u.sessionId, uniqueDomain());
    await addKey(u.sessionId, busy);
    await addSmtp(u.sessionId, busy);
    await addSmtp(u.sessionId, busy);

    const r = await list(u.sessionId, { WithCounts: 1 });
    expect(r.Success).toBe(true);
    const byId = Object.fromEntries(r.Domains.map((d: any) => [d.DomainID, d]));
    expect(byId[busy]).toMatchObject({ APIKeyCount: 1, SMTPCount: 2 });
    expect(byId[idle]).toMatchObject({ APIKeyCount: 0, SMTPCount: 0 });
    expect(Number.isInteger(byId[busy].APIKeyCount)).toBe(true);
    expect(Number.isInteger(byId[busy].SMTPCount)).toBe(true);
  });

  // D4 (upstream §4.2): WebhookCount, Sent7d, BounceRate7d and LastActivityAt beside the credential counts.
  it('adds WebhookCount, Sent7d, BounceRate7d and LastActivityAt from the last 7 days with WithCounts', async () => {
    const u = await createUser(h);
    const busy = await addDomain(h, u.sessionId, uniqueDomain());
    const idle = await addDomain(h, u.sessionId, uniqueDomain());
    await h.services.db('sender_domains').where({ id: busy }).update({ status: 'Enabled' });
    const hook = await h.call({
      Command: 'emailgateway.addwebhook',
      SessionID: u.sessionId,
      DomainID: busy,
      Event: 'delivered',
      WebhookURL: 'http://127.0.0.1:9/in',
    });
    expect(hook.Success).toBe(true);
    const now = Date.now();
    const iso = (ago: number) => new Date(now - ago).toISOString();
    await seed(h, { userId: u.userId, domainId: busy }, [
      { to: 'a@x.test', at: iso(3600_000), outcome: { type: 'delivered', seconds: 1 } },
      { to: 'b@x.test', at: iso(2 * 86400_000), outcome: { type: 'bounced', seconds: 1 } },
      { to: 'c@x.test', at: iso(60_000) },
      { to: 'old@x.test', at: iso(9 * 86400_000), outcome: { type: 'bounced', seconds: 1 } },
    ]);
    const r = await list(u.sessionId, { WithCounts: 1 });
    const byId = Object.fromEntries(r.Domains.map((d: any) => [d.DomainID, d]));
    expect(byId[busy]).toMatchObject({ WebhookCount: 1, Sent7d: 3, BounceRate7d: 33.33 });
    expect(byId[busy].LastActivityAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(Math.abs(Date.parse(byId[busy].LastActivityAt) - (now - 60_000))).toBeLessThan(1500);
    expect(byId[idle]).toMatchObject({ WebhookCount: 0, Sent7d: 0, BounceRate7d: 0, LastActivityAt: null });
  });

  it('counts only Enabled credentials', async () => {
    const u = await createUser(h);
    const id = await addDomain(h, u.sessionId, uniqueDomain());
    await addSmtp(u.sessionId, id);
    const disabled = await addSmtp(u.sessionId, id);
    await h.services.db('smtp_credentials').where({ id: disabled }).update({ status: 'Disabled' });
    const [row] = (await list(u.sessionId, { WithCounts: 'true' })).Domains;
    expect(row).toMatchObject({ APIKeyCount: 0, SMTPCount: 1 });
  });

  it("does not count another user's credentials", async () => {
    const me = await createUser(h);
    const other = await createUser(h);
    const mine = await addDomain(h, me.sessionId, uniqueDomain());
    const theirs = await addDomain(h, other.sessionId, uniqueDomain());
    await addKey(other.sessionId, theirs);
    await addSmtp(other.sessionId, theirs);
    const r = await list(me.sessionId, { WithCounts: 1 });
    expect(r.Domains).toHaveLength(1);
    expect(r.Domains[0]).toMatchObject({ DomainID: mine, APIKeyCount: 0, SMTPCount: 0 });
  });

  it('leaves the counts out without WithCounts or with WithCounts=0', async () => {
    const u = await createUser(h);
    const id = await addDomain(h, u.sessionId, uniqueDomain());
    await addKey(u.sessionId, id);
    for (const params of [{}, { WithCounts: 0 }, { WithCounts: 'false' }]) {
      const [row] = (await list(u.sessionId, params)).Domains;
      expect(row.DomainID).toBe(id);
      for (const k of ['APIKeyCount', 'SMTPCount', 'WebhookCount', 'Sent7d', 'BounceRate7d', 'LastActivityAt']) expect(row).not.toHaveProperty(k);
    }
  });

  it('answers 99998 without credentials', async () => {
    const r = await h.call({ Command: 'emailgateway.getdomains' });
    expect(r).toMatchObject({ Success: false, ErrorCode: 99998 });
  });
});
