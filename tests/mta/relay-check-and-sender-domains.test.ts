import { addDomain, createUser, Harness, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
let enabled: string;
let pending: string;
let dotted: string;
let custom: string;
let demoted: Awaited<ReturnType<typeof senderSetup>>;

beforeAll(async () => {
  h = await startHarness();
  const u = await createUser(h);
  enabled = uniqueDomain('relay');
  pending = uniqueDomain('pend');
  dotted = uniqueDomain('dot');
  custom = uniqueDomain('custom');
  const id = await addDomain(h, u.sessionId, enabled);
  await addDomain(h, u.sessionId, pending, { Subdomain: 'bounce' });
  const d = await addDomain(h, u.sessionId, dotted, { TrackMerge: '.' });
  const c = await addDomain(h, u.sessionId, custom, { Subdomain: 'bounce' });
  await h.services.db('sender_domains').whereIn('id', [id, d, c]).update({ status: 'Enabled' });
  // A domain that sent a message while Enabled, then went back to Approval Pending (its DNS broke).
  demoted = await senderSetup(h);
  const sent = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${demoted.key}` },
    body: {
      Subject: 'Hi',
      ContentType: 'plain',
      PlainContent: 'Hi',
      From: { name: '', email: `app@${demoted.domain}` },
      To: [{ name: '', email: 'r@example.org' }],
    },
  });
  expect(sent.body.MessageID).toBeTruthy();
  await h.services.db('sender_domains').where({ id: demoted.domainId }).update({ status: 'Approval Pending' });
});
afterAll(async () => {
  await h.close();
});

function check(domain: string, key = h.adminKey, headers: Record<string, string> = {}) {
  return h.request('GET', '/api/v1/inbound-relay-domain-check', { headers: { Authorization: `Bearer ${key}`, ...headers }, query: { domain } });
}

describe('GET /api/v1/inbound-relay-domain-check', () => {
  it('answers a client held for wrong credentials 403 (temporary to an MX) with Retry-After, never 500 (denied)', async () => {
    const from = (key: string) => check(enabled, key, { 'X-Forwarded-For': '198.51.100.77' });
    for (let i = 0; i <= 100; i += 1) expect((await from(`wrong-key-${i}`)).status).toBe(403);
    const held = await from(h.adminKey);
    expect(held.status).toBe(403);
    expect(held.body).toEqual({ Errors: [{ Code: 1, Message: expect.stringMatching(/^Too many different wrong credentials/) }] });
    expect(Number(held.headers['retry-after'])).toBeGreaterThan(0);
    expect((await check(enabled)).status).toBe(200); // another client
  });

  it.each([
    ['the sender domain', () => enabled, () => enabled],
    ['its MFROM host', () => `sl.${enabled}`, () => `sl.${enabled}`],
    ['its tracking host', () => `track-sl.${enabled}`, () => `track-sl.${enabled}`],
    ['a dotted tracking host', () => `track.sl.${dotted}`, () => `track.sl.${dotted}`],
    ['a custom MFROM label', () => `bounce.${custom}`, () => `bounce.${custom}`],
    ['a full VERP address', () => `b-1-abcdefghij@sl.${enabled}`, () => `sl.${enabled}`],
    ['an address in upper case', () => `Someone@SL.${enabled.toUpperCase()}`, () => `sl.${enabled}`],
  ])('allows %s with 200 and the relay domain', async (_what, input, expected) => {
    const res = await check(input());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Success: true, RelayDomain: expected() });
  });

  it.each([
    ['a stranger domain', 'example.org'],
    ['an unrelated subdomain', 'other.sl.nothing.example.com'],
    ['a wrong label on a known domain', 'xx'],
  ])('denies %s with 500 and {}', async (_what, input) => {
    const res = await check(input === 'xx' ? `mail.${enabled}` : input);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({});
  });

  it.each([
    ['a domain that is only Approval Pending', () => pending],
    ['its MFROM host', () => `bounce.${pending}`],
    ['an address at its MFROM host', () => `b-1-abcdefghij@bounce.${pending}`],
    ['its tracking host', () => `track-bounce.${pending}`],
    ['a demoted domain that has sent mail', () => demoted.domain],
    ['its tracking host', () => `track-sl.${demoted.domain}`],
  ])('denies %s with 500 and {}: only verified domains are relayed', async (_what, input) => {
    const res = await check(input());
    expect(res.status).toBe(500);
    expect(res.body).toEqual({});
  });

  it('still allows the MFROM host of a domain that has sent mail and is no longer Enabled, for its bounces', async () => {
    for (const status of ['Approval Pending', 'Disabled', 'Suspended']) {
      await h.services.db('sender_domains').where({ id: demoted.domainId }).update({ status });
      const res = await check(`b-1-abcdefghij@sl.${demoted.domain}`);
      expect([status, res.status, res.body]).toEqual([status, 200, { Success: true, RelayDomain: `sl.${demoted.domain}` }]);
    }
    await h.services.db('sender_domains').where({ id: demoted.domainId }).update({ status: 'Approval Pending' });
  });

  it('answers a bad admin key with 403 and the v1 error', async () => {
    const res = await check(enabled, 'not-the-admin-key');
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ Errors: [{ Code: 1, Message: 'Authentication failed. Invalid admin API key.' }] });
  });

  it('answers a missing admin key with 403 too', async () => {
    const res = await h.request('GET', '/api/v1/inbound-relay-domain-check', { query: { domain: enabled } });
    expect(res.status).toBe(403);
  });

  it('is also a legacy command', async () => {
    const ok = await h.call({ Command: 'emailgateway.inboundrelaydomaincheck', AdminAPIKey: h.adminKey, Domain: `sl.${enabled}` });
    expect(ok).toMatchObject({ Success: true, ErrorCode: 0, RelayDomain: `sl.${enabled}` });
    const no = await h.call({ Command: 'emailgateway.inboundrelaydomaincheck', AdminAPIKey: h.adminKey, Domain: 'example.org' });
    expect(no).toMatchObject({ Success: false, ErrorCode: 2 });
  });
});

describe('sender.domains', () => {
  function list(body: Record<string, unknown>, key = h.adminKey) {
    return h.request('POST', '/api/v1/sender.domains', { headers: { Authorization: `Bearer ${key}` }, body });
  }

  it('lists the Enabled sender domains as JSON by default', async () => {
    const res = await list({});
    expect(res.status).toBe(200);
    expect(res.body.Success).toBe(true);
    expect(res.body.Domains).toEqual(expect.arrayContaining([enabled, dotted]));
    expect(res.body.Domains).not.toContain(pending);
  });

  it('writes one relay-domain line per MFROM host for PowerMTA', async () => {
    const res = await list({ DomainsResponseFormat: 'powermta-relay-domains' });
    expect(res.type).toBe('text/plain');
    const lines = res.text.trim().split('\n');
    expect(lines).toEqual(expect.arrayContaining([`relay-domain sl.${enabled}`, `relay-domain sl.${dotted}`]));
    expect(lines.every((l) => /^relay-domain [a-z0-9.-]+$/.test(l))).toBe(true);
  });

  it('writes a bounce-processor address list for PowerMTA', async () => {
    const res = await list({ DomainsResponseFormat: 'powermta-bounce-domains' });
    expect(res.text).toMatch(/^<bounce-processor>\n {4}<address-list>\n/);
    expect(res.text).toContain(`        domain sl.${enabled}\n`);
    expect(res.text).toMatch(/ {4}<\/address-list>\n<\/bounce-processor>\n$/);
  });

  it('answers an unknown format with the legacy envelope and a scalar code 1 (HTTP 200, upstream §2.1)', async () => {
    const res = await list({ DomainsResponseFormat: 'xml' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      Success: false,
      ErrorCode: 1,
      ErrorText: 'Invalid DomainsResponseFormat (must be json, powermta-bounce-domains, or powermta-relay-domains)',
    });
  });

  // D2: the contract shows a scalar 1 on /api.php too, not [1].
  it('answers a scalar ErrorCode 1 on /api.php', async () => {
    const r = await h.call({ Command: 'sender.domains', AdminAPIKey: h.adminKey, DomainsResponseFormat: 'xml' });
    expect(r).toEqual({
      Success: false,
      ErrorCode: 1,
      ErrorText: 'Invalid DomainsResponseFormat (must be json, powermta-bounce-domains, or powermta-relay-domains)',
    });
  });

  it('refuses a caller without the admin key', async () => {
    const res = await list({}, 'nope');
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ Success: false, ErrorCode: 99998 });
  });

  it('works as Command sender.domains on /api.php', async () => {
    const r = await h.call({ Command: 'sender.domains', AdminAPIKey: h.adminKey });
    expect(r.Success).toBe(true);
    expect(r.ErrorCode).toBeUndefined();
    expect(r.Domains).toEqual(expect.arrayContaining([enabled]));
  });
});
