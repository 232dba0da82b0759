/**
 * Account API keys (`sk_live_…`): created with user.apikey.create KeyType=account, shown once and stored
 * hashed; accepted by the sender door as `Authorization: Bearer` or `X-API-Key`, sending from any Enabled
 * domain of the account that the key may use; refused for other accounts' domains, domains outside the key's
 * list, addresses outside its CIDRs, a missing permission, and once revoked. They open no user command.
 */
import crypto from 'node:crypto';
import { addDomain, createUser, Harness, Reply, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
let second: { domain: string; domainId: number };

beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
  const domain = uniqueDomain('second');
  const domainId = await addDomain(h, s.sessionId, domain);
  await h.services.db('sender_domains').where({ id: domainId }).update({ status: 'Enabled' });
  second = { domain, domainId };
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

async function accountKey(params: Record<string, unknown> = {}, sessionId = s.sessionId): Promise<any> {
  return h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'dialects', KeyType: 'account', ...params });
}

function email(fromDomain: string) {
  return {
    Subject: 'Hello',
    ContentType: 'html',
    HTMLContent: '<p>Hi</p>',
    From: { email: `app@${fromDomain}` },
    To: [{ email: 'jane@recipient.test' }],
  };
}

function send(key: string, fromDomain: string, header: 'bearer' | 'x-api-key' = 'bearer') {
  const headers: Record<string, string> = header === 'bearer' ? { Authorization: `Bearer ${key}` } : { 'X-API-Key': key };
  return h.request('POST', '/api/v1/email', { headers, body: email(fromDomain) });
}

const codeOf = (res: Reply) => res.body.Errors?.[0]?.Code;

describe('user.apikey.create KeyType=account', () => {
  it('shows an sk_live_ key once, stores only its SHA-256, and lists it masked with its permissions and restrictions', async () => {
    const r = await accountKey({ Domains: s.domain, AllowedIPs: '10.0.0.0/8, 192.0.2.7', CanReadAnalytics: 0 });
    expect(r).toMatchObject({
      Success: true,
      APIKey: { KeyType: 'account', CanSend: true, CanReadAnalytics: false, Domains: [s.domain], AllowedIPs: ['10.0.0.0/8', '192.0.2.7'], RequestCount: 0 },
    });
    const key: string = r.APIKey.APIKey;
    expect(key).toMatch(/^sk_live_[A-Za-z0-9]{40}$/);
    const row = await h.services.db('user_api_keys').where({ id: r.APIKeyID }).first();
    expect(row.key_hash).toBe(crypto.createHash('sha256').update(key).digest('hex'));
    for (const v of Object.values(row)) expect(String(v)).not.toContain(key.slice(8));
    const list = await h.call({ Command: 'user.apikey.list', SessionID: s.sessionId });
    const listed = list.APIKeys.find((k: any) => k.APIKeyID === r.APIKeyID);
    expect(listed).toMatchObject({ KeyType: 'account', CanSend: true, CanReadAnalytics: false, Domains: [s.domain], AllowedIPs: ['10.0.0.0/8', '192.0.2.7'] });
    expect(listed.APIKey).toBe(`sk_live_${'*'.repeat(36)}${key.slice(-4)}`);
  });

  it('answers its own codes for a bad KeyType, a foreign domain, a bad range, a bad flag and a parameter of the other key type', async () => {
    const other = await senderSetup(h);
    expect((await accountKey({ KeyType: 'robot' })).ErrorCode).toEqual([7]);
    expect(await accountKey({ Domains: `${s.domain},${other.domain}` })).toMatchObject({ ErrorCode: 8, ErrorText: expect.stringContaining(other.domain) });
    expect(await accountKey({ AllowedIPs: '10.0.0.0/33' })).toMatchObject({ ErrorCode: 9, ErrorText: expect.stringContaining('10.0.0.0/33') });
    expect((await accountKey({ CanSend: 'maybe' })).ErrorCode).toBe(10);
    expect((await accountKey({ BoundIPAddress: '127.0.0.1' })).ErrorCode).toBe(11);
    expect((await h.call({ Command: 'user.apikey.create', SessionID: s.sessionId, Note: 'octeth', Domains: s.domain })).ErrorCode).toBe(11);
  });

  it('answers a Domains name the account has no domain for (8) before a bad AllowedIPs (9), no key made', async () => {
    const before = (await h.call({ Command: 'user.apikey.list', SessionID: s.sessionId })).APIKeys.length;
    const r = await accountKey({ Domains: `${s.domain},nowhere.invalid`, AllowedIPs: '10.0.0.0/33' });
    expect(r).toEqual({ Success: false, ErrorCode: 8, ErrorText: 'Invalid Domains: nowhere.invalid is not a sender domain of this account' });
    expect((await h.call({ Command: 'user.apikey.list', SessionID: s.sessionId })).APIKeys.length).toBe(before);
  });
});

describe('sending with an account key', () => {
  it('sends from any Enabled domain of the account, as Bearer or X-API-Key, and reads the message back', async () => {
    const key = (await accountKey()).APIKey.APIKey;
    const a = await send(key, s.domain);
    expect(a.status).toBe(200);
    const b = await send(key, second.domain, 'x-api-key');
    expect(b.status).toBe(200);
    const rows = await h.services.db('messages').whereIn('id', [a.body.MessageID, b.body.MessageID]).orderBy('domain_id').select('domain_id');
    expect(rows.map((r: any) => Number(r.domain_id)).sort()).toEqual([s.domainId, second.domainId].sort());
    const got = await h.request('GET', `/api/v1/email/${b.body.MessageID}`, { headers: { Authorization: `Bearer ${key}` } });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ MessageID: b.body.MessageID, Status: 'queued' });
  });

  it('refuses another account’s domain (46), a domain outside the key’s list (99999) and a domain not yet Enabled (32)', async () => {
    const other = await senderSetup(h);
    const key = (await accountKey({ Domains: s.domain })).APIKey.APIKey;
    expect(codeOf(await send(key, other.domain))).toBe(46);
    expect(codeOf(await send(key, 'nowhere.example'))).toBe(46);
    const outside = await send(key, second.domain);
    expect(codeOf(outside)).toBe(99999);
    expect(outside.body.Errors[0].Message).toContain(second.domain);
    const pending = uniqueDomain('pending');
    await addDomain(h, s.sessionId, pending);
    expect(codeOf(await send((await accountKey()).APIKey.APIKey, pending))).toBe(32);
  });

  it('refuses a client outside the key’s addresses and ranges, and accepts one inside', async () => {
    const outside = (await accountKey({ AllowedIPs: '10.0.0.0/8,2001:db8::/32' })).APIKey.APIKey;
    const res = await send(outside, s.domain);
    expect(codeOf(res)).toBe(99999);
    expect(res.body.Errors[0].Message).toMatch(/may not be used from 127\.0\.0\.1/);
    const inside = (await accountKey({ AllowedIPs: '127.0.0.0/8' })).APIKey.APIKey;
    expect((await send(inside, s.domain)).status).toBe(200);
    const mapped = (await accountKey({ AllowedIPs: '::ffff:127.0.0.1' })).APIKey.APIKey;
    expect((await send(mapped, s.domain)).status).toBe(200);
  });

  it('refuses a key without can_send to send, and one without can_read_analytics to read', async () => {
    const sendOnly = (await accountKey({ CanReadAnalytics: false })).APIKey.APIKey;
    const readOnly = (await accountKey({ CanSend: 'false' })).APIKey.APIKey;
    const sent = await send(sendOnly, s.domain);
    expect(sent.status).toBe(200);
    const refused = await send(readOnly, s.domain);
    expect(codeOf(refused)).toBe(99999);
    expect(refused.body.Errors[0].Message).toContain('can_send');
    const read = await h.request('GET', `/api/v1/email/${sent.body.MessageID}`, { headers: { Authorization: `Bearer ${sendOnly}` } });
    expect(codeOf(read)).toBe(99999);
    expect(read.body.Errors[0].Message).toContain('can_read_analytics');
    const ok = await h.request('GET', `/api/v1/email/${sent.body.MessageID}`, { headers: { Authorization: `Bearer ${readOnly}` } });
    expect(ok.status).toBe(200);
  });

  it('does not read messages outside the key’s domains or another account’s', async () => {
    const all = (await accountKey()).APIKey.APIKey;
    const id = (await send(all, second.domain)).body.MessageID;
    const narrow = (await accountKey({ Domains: s.domain })).APIKey.APIKey;
    expect(codeOf(await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${narrow}` } }))).toBe(4);
    const other = await createUser(h);
    const theirs = (await accountKey({}, other.sessionId)).APIKey.APIKey;
    expect(codeOf(await h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${theirs}` } }))).toBe(4);
  });

  it('stops working once revoked, and is refused by commands not open to account keys', async () => {
    const r = await accountKey();
    const key = r.APIKey.APIKey;
    expect((await send(key, s.domain)).status).toBe(200);
    const suppressions = await h.request('GET', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${key}` } });
    expect(codeOf(suppressions)).toBe(99999);
    expect(await h.call({ Command: 'user.apikey.delete', SessionID: s.sessionId, APIKeyID: r.APIKeyID })).toEqual({ Success: true });
    const after = await send(key, s.domain);
    expect(codeOf(after)).toBe(13);
  });

  it('is not a user API key: it opens no session and no user command', async () => {
    const key = (await accountKey()).APIKey.APIKey;
    expect((await h.call({ Command: 'user.current', APIKey: key })).ErrorCode).toEqual([1]); // user.current's own code (D5)
    expect((await h.call({ Command: 'user.login', APIKey: key })).Success).toBe(false);
    expect((await h.call({ Command: 'emailgateway.getdomains', APIKey: key })).ErrorCode).toBe(99998);
  });

  it('leaves sender keys working as before, also as X-API-Key', async () => {
    expect((await send(s.key, s.domain)).status).toBe(200);
    expect((await send(s.key, s.domain, 'x-api-key')).status).toBe(200);
    expect(codeOf(await send(s.key, second.domain))).toBe(3);
  });
});
