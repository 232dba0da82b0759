import { Resolver } from 'node:dns/promises';
import { Writable } from 'node:stream';
import { dkimVerify } from 'mailauth/lib/dkim/verify';
import { decrypt } from '../../src/auth/secrets';
import { openInstallation } from '../../src/cli/installation';
import { Cli, runCli } from '../../src/cli/program';
import { createDnsWatch, DnsWatch } from '../../src/domains/dns-watch';
import { createUser, Harness, uniqueDomain } from '../helpers/harness';
import { DnsZone, publish, startDnsZone } from '../helpers/dns-zone';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { waitFor } from '../helpers/sink';

// DKIM rotation end to end: records served by a real DNS server (dns2), messages delivered to a real SMTP sink and
// their signatures checked by mailauth against what that DNS server answers, the watch driven with a test clock.

const HOUR = 3_600_000;

let dns: DnsZone;
let rig: RelayRig;
let h: Harness;
let watch: DnsWatch;

beforeAll(async () => {
  dns = await startDnsZone();
  // DOMAIN_CACHE_MS=0: the worker sees a switched key at once (by default within 10 s; the old record still verifies meanwhile).
  rig = await startRelayRig({ DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000', DOMAIN_CACHE_MS: '0' });
  h = rig.h;
  watch = createDnsWatch(h.services, { timer: false });
});
afterAll(async () => {
  await watch.stop();
  await rig.close();
  await dns.close();
});

interface Rec {
  Host: string;
  Type: string;
  Value: string;
  Purpose: string;
  Required: boolean;
  Verified: boolean | null;
}

async function enabledDomain() {
  const u = await createUser(h);
  const name = uniqueDomain('rotate');
  const added = await h.call({ Command: 'emailgateway.adddomain', SessionID: u.sessionId, DomainName: name });
  const id = added.NewSenderDomainID as number;
  publish(dns.zone, added.Domain.DNSRecords);
  expect((await h.call({ Command: 'emailgateway.verifydomain', SessionID: u.sessionId, DomainID: id })).Domain.Status).toBe('Enabled');
  const key = (await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, DomainID: id, Description: 'rotate' })).APIKey.APIKey as string;
  return { u, name, id, key };
}
type D = Awaited<ReturnType<typeof enabledDomain>>;

const rotate = (d: D) => h.call({ Command: 'emailgateway.rotatedkim', SessionID: d.u.sessionId, DomainID: d.id });
const verify = (d: D) => h.call({ Command: 'emailgateway.verifydomain', SessionID: d.u.sessionId, DomainID: d.id });
const getDomain = (d: D) => h.call({ Command: 'emailgateway.getdomain', SessionID: d.u.sessionId, DomainID: d.id }).then((r) => r.Domain);
const row = (d: D) => h.services.db('sender_domains').where({ id: d.id }).first();

/** Sends one message through the v1 door and answers the bytes the SMTP sink received. */
async function sendAndReceive(d: D, subject: string): Promise<Buffer> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${d.key}` },
    body: {
      Subject: subject,
      ContentType: 'plain',
      PlainContent: 'Hello',
      From: { name: 'A', email: `a@${d.name}` },
      To: [{ name: 'B', email: 'b@recipient.test' }],
    },
  });
  expect(res.body.MessageID).toBeDefined();
  await waitFor(() => rig.sink.received.some((r) => r.raw.includes(`Subject: ${subject}`)), 15000, subject);
  return rig.sink.received.find((r) => r.raw.includes(`Subject: ${subject}`))!.raw;
}

/** mailauth's verdict, its resolver asking the test's DNS server, as a recipient's would ask the public DNS. */
async function dkimOf(raw: Buffer): Promise<{ result: string; selector: string; domain: string }> {
  const resolver = new Resolver();
  resolver.setServers([`127.0.0.1:${dns.port}`]);
  const v = await dkimVerify(raw, {
    resolver: async (name: string, type: string) =>
      type === 'TXT' ? resolver.resolveTxt(name) : Promise.reject(Object.assign(new Error('no'), { code: 'ENOTFOUND' })),
  });
  const r = v.results[0];
  return { result: r?.status.result ?? 'none', selector: r?.selector ?? '', domain: r?.signingDomain ?? '' };
}

describe('emailgateway.rotatedkim', () => {
  it('makes a new key under a new selector; signing switches only once its record verifies; the old key goes after its time', async () => {
    const d = await enabledDomain();
    const started = await rotate(d);
    expect(started).toMatchObject({
      Success: true,
      Domain: { DomainID: d.id, SenderDomain: d.name, Status: 'Enabled' },
      DKIMSelector: 'key1',
      NewDKIMSelector: 'key2',
      AlreadyPending: false,
      Record: { Host: `key2._domainkey.${d.name}`, Type: 'TXT', Required: false, Purpose: 'dkim-next' },
      DKIMRotation: { ActiveSelector: 'key1', PendingSelector: 'key2', PreviousSelector: null },
    });
    const record = started.Record as Rec;
    expect(record.Value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]{300,}$/);
    // Asked again while it waits: the same key and record, no new key.
    const again = await rotate(d);
    expect(again).toMatchObject({ AlreadyPending: true, NewDKIMSelector: 'key2', Record: { Value: record.Value } });

    // The new private key is sealed at rest like every DKIM key.
    const sealed = await row(d);
    expect(sealed.dkim_next_private_key_enc).not.toContain('PRIVATE KEY');
    expect(decrypt(sealed.dkim_next_private_key_enc, h.services.config.encryptionKey!)).toContain('BEGIN PRIVATE KEY');

    // Until the record is published the domain keeps signing with key1, and a verification changes nothing.
    const listed = await getDomain(d);
    expect(listed.DNSRecords.find((r: Rec) => r.Purpose === 'dkim-next')).toMatchObject({ Host: record.Host, Value: record.Value, Required: false });
    const before = await verify(d);
    expect(before.Domain.Status).toBe('Enabled');
    expect(before.DNSVerificationResults[record.Host]).toEqual(['TXT', record.Value, false]);
    expect((await getDomain(d)).DKIMSelector).toBe('key1');
    expect(await dkimOf(await sendAndReceive(d, `before ${d.id}`))).toEqual({ result: 'pass', selector: 'key1', domain: d.name });

    // Published and verified: key2 signs, key1 is kept (and listed, not required) until DKIM_PREVIOUS_KEY_HOURS later.
    publish(dns.zone, [record]);
    const switchedAt = Date.now();
    const after = await verify(d);
    expect(after.Domain.Status).toBe('Enabled');
    expect(after.Records.map((r: Rec) => [r.Purpose, r.Host, r.Required, r.Verified])).toEqual([
      ['mfrom', `sl.${d.name}`, true, true],
      ['dkim', `key2._domainkey.${d.name}`, true, true],
      ['tracking', `track-sl.${d.name}`, true, true],
      ['dmarc', `_dmarc.${d.name}`, false, true],
      ['dkim-previous', `key1._domainkey.${d.name}`, false, true],
    ]);
    const switched = await getDomain(d);
    expect(switched.DKIMSelector).toBe('key2');
    expect(switched.DKIMRotation).toMatchObject({ ActiveSelector: 'key2', PendingSelector: null, PreviousSelector: 'key1' });
    const removeAt = Number((await row(d)).dkim_previous_remove_at);
    expect(removeAt).toBeGreaterThanOrEqual(switchedAt + 168 * HOUR);
    expect(removeAt).toBeLessThan(Date.now() + 168 * HOUR + 1);
    const rotated = await h.services.db('domain_events').where({ domain_id: d.id, type: 'domain.dkim_rotated' });
    expect(JSON.parse(rotated[0].data)).toMatchObject({ selector: 'key2', previous_selector: 'key1' });

    expect(await dkimOf(await sendAndReceive(d, `after ${d.id}`))).toEqual({ result: 'pass', selector: 'key2', domain: d.name });

    // The old key stays until its time, then goes with its record.
    expect((await watch.runOnce(removeAt - 1)).keysRemoved).toBe(0);
    expect((await row(d)).dkim_previous_selector).toBe('key1');
    await watch.runOnce(removeAt);
    const gone = await row(d);
    expect([gone.dkim_previous_selector, gone.dkim_previous_private_key_enc, gone.dkim_previous_public_key, gone.dkim_previous_remove_at]).toEqual([
      null,
      null,
      null,
      null,
    ]);
    const final = await getDomain(d);
    expect(final.DNSRecords.map((r: Rec) => r.Purpose)).toEqual(['mfrom', 'dkim', 'tracking', 'dmarc']);
    expect(final.DKIMRotation).toMatchObject({ ActiveSelector: 'key2', PreviousSelector: null, PreviousRemovedAt: null });
    expect(await h.services.db('domain_events').where({ domain_id: d.id, type: 'domain.dkim_key_removed' })).toHaveLength(1);
    // Signing goes on with key2, its record the one required.
    expect(await dkimOf(await sendAndReceive(d, `later ${d.id}`))).toMatchObject({ result: 'pass', selector: 'key2' });
    expect((await verify(d)).Domain.Status).toBe('Enabled');
  });

  it('switches on the DNS watch as well, and a second rotation moves on to key3', async () => {
    const d = await enabledDomain();
    const first = await rotate(d);
    publish(dns.zone, [first.Record]);
    const now = Date.now() + 1000 * HOUR;
    await h.services.db('sender_domains').where({ id: d.id }).update({ dns_next_check_at: now });
    await watch.runOnce(now);
    expect((await getDomain(d)).DKIMSelector).toBe('key2');
    const second = await rotate(d);
    expect(second).toMatchObject({ DKIMSelector: 'key2', NewDKIMSelector: 'key3', Record: { Host: `key3._domainkey.${d.name}` } });
    expect(await dkimOf(await sendAndReceive(d, `watch ${d.id}`))).toMatchObject({ result: 'pass', selector: 'key2' });
  });

  it('is forgotten when the owner adds the domain again (a fresh key1 and records, as re-adding always did)', async () => {
    const d = await enabledDomain();
    await rotate(d);
    const readded = await h.call({ Command: 'emailgateway.adddomain', SessionID: d.u.sessionId, DomainName: d.name });
    expect(readded.NewSenderDomainID).toBe(d.id);
    const r = await row(d);
    expect([r.dkim_selector, r.dkim_next_selector, r.dkim_next_private_key_enc, r.status]).toEqual(['key1', null, null, 'Approval Pending']);
    expect(readded.Domain.DNSRecords.map((x: Rec) => x.Purpose)).toEqual(['mfrom', 'dkim', 'tracking', 'dmarc']);
  });

  it('is on the v1 door as POST /api/v1/user.senderdomain.rotatedkim', async () => {
    const d = await enabledDomain();
    const res = await h.request('POST', '/api/v1/user.senderdomain.rotatedkim', { body: { SessionID: d.u.sessionId, DomainID: d.id } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ Success: true, NewDKIMSelector: 'key2', Record: { Host: `key2._domainkey.${d.name}`, Type: 'TXT' } });
  });

  it('is the CLI shortcut `postern domain rotate-dkim`', async () => {
    const d = await enabledDomain();
    let stdout = '';
    const out = new Writable({ write: (chunk, _enc, done) => ((stdout += String(chunk)), done()) });
    const err = new Writable({ write: (_c, _e, done) => done() });
    const c = new Cli({ env: h.env, stdout: out, stderr: err }, openInstallation);
    const code = await runCli(['node', 'postern', 'domain', 'rotate-dkim', d.name], c, async () => undefined);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ NewDKIMSelector: 'key2', Record: { Host: `key2._domainkey.${d.name}` } });
  });

  describe('errors', () => {
    it('answers ErrorCode [1] without DomainID', async () => {
      const u = await createUser(h);
      expect(await h.call({ Command: 'emailgateway.rotatedkim', SessionID: u.sessionId })).toEqual({
        Success: false,
        ErrorCode: [1],
        ErrorText: ['Missing required parameter (DomainID)'],
      });
    });

    it("answers ErrorCode 2 for another user's domain, as for a missing one, and leaves its key alone", async () => {
      const d = await enabledDomain();
      const other = await createUser(h);
      const foreign = await h.call({ Command: 'emailgateway.rotatedkim', SessionID: other.sessionId, DomainID: d.id });
      const missing = await h.call({ Command: 'emailgateway.rotatedkim', SessionID: other.sessionId, DomainID: 999999 });
      expect(foreign).toEqual(missing);
      expect(foreign).toEqual({ Success: false, ErrorCode: 2, ErrorText: 'Domain not found or access denied' });
      expect((await row(d)).dkim_next_selector).toBeNull();
    });
  });
});
