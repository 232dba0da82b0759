/**
 * API_MAX_AUTH_FAILURES: different wrong credentials from one client, on any command of any HTTP door, are counted;
 * past the limit every credential from that client, right or wrong, answers 429 with Retry-After in the door's own
 * envelope. One wrong credential sent again counts once, so a misconfigured client does not lock out its neighbours.
 */
import { accountKey, createUser, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ API_MAX_AUTH_FAILURES: '5' });
});
afterAll(async () => {
  await h.close();
});

/** POST /api.php as the client at `ip` (TRUST_PROXY is loopback: the harness's requests may name their client). */
const apiFrom = (ip: string, body: Record<string, unknown>) => h.request('POST', '/api.php', { headers: { 'X-Forwarded-For': ip }, body });

describe('wrong credentials on the Octeth door', () => {
  it('one wrong key repeated counts once; different ones past the limit refuse the right key too, and not other clients', async () => {
    const u = await createUser(h);
    const key = (await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'n' })).APIKey.APIKey as string;
    const ip = '198.51.100.10';
    for (let i = 0; i < 20; i++) expect((await apiFrom(ip, { Command: 'user.current', APIKey: 'AAAA-BBBB-stale' })).body.ErrorCode).toEqual([1]);
    expect((await apiFrom(ip, { Command: 'user.current', APIKey: key })).body.Success).toBe(true);

    // user.current answers its own code 1 for a refused credential; users.get the usual 99998.
    // Five more different ones (six with the stale key): the sixth is still checked, then the client is held.
    for (let i = 0; i < 5; i++) expect((await apiFrom(ip, { Command: 'users.get', AdminAPIKey: `guess-${i}` })).body.ErrorCode).toBe(99998);
    const held = await apiFrom(ip, { Command: 'user.current', APIKey: key });
    expect(held.body.Success).toBe(false);
    expect(held.body.ErrorCode).toBe(429);
    expect(held.body.ErrorText).toMatch(/^Too many different wrong credentials from your address: try again in \d+ seconds$/);
    expect(Number(held.headers['retry-after'])).toBeGreaterThan(800);
    expect((await apiFrom(ip, { Command: 'users.get', AdminAPIKey: h.adminKey })).body.ErrorCode).toBe(429);
    expect((await apiFrom(ip, { Command: 'user.current', SessionID: u.sessionId })).body.ErrorCode).toBe(429);

    // Another client, and the same client's logins (their own throttle), are not held.
    expect((await apiFrom('198.51.100.11', { Command: 'user.current', APIKey: key })).body.Success).toBe(true);
    expect((await apiFrom(ip, { Command: 'user.login', Username: u.username, Password: u.password })).body.Success).toBe(true);
  });

  it('counts an IPv6 client by its /64', async () => {
    for (let i = 0; i < 6; i++) await apiFrom(`2001:db8:77:1::${i + 1}`, { Command: 'users.get', AdminAPIKey: `v6-guess-${i}` });
    expect((await apiFrom('2001:db8:77:1:ffff::9', { Command: 'users.get', AdminAPIKey: h.adminKey })).body.ErrorCode).toBe(429);
    expect((await apiFrom('2001:db8:77:2::1', { Command: 'users.get', AdminAPIKey: h.adminKey })).body.Success).toBe(true);
  });
});

it('the send door counts wrong sender keys and answers a held client 429 with Retry-After', async () => {
  const s = await senderSetup(h);
  const ip = '198.51.100.20';
  const send = (key: string) =>
    h.request('POST', '/api/v1/email', {
      headers: { 'X-Forwarded-For': ip, Authorization: `Bearer ${key}` },
      body: {
        Subject: 's',
        ContentType: 'plain',
        PlainContent: 'hi',
        From: { name: '', email: `app@${s.domain}` },
        To: [{ name: '', email: 'to@dest.test' }],
      },
    });
  for (let i = 0; i < 6; i++) expect((await send(`eg_live_guess${i}`)).body.Errors[0].Code).toBe(13);
  const held = await send(s.key);
  expect(held.status).toBe(429);
  expect(held.headers['retry-after']).toMatch(/^\d+$/);
  expect(held.body.MessageID).toBeUndefined();
});

it('the platform dialect counts wrong account keys, and a disabled account is not a guess', async () => {
  const u = await createUser(h);
  const keys = [];
  for (let i = 0; i < 7; i++) keys.push(await accountKey(h, u.sessionId));
  const key = keys[0];
  const domains = (ip: string, k: string) => h.request('GET', '/api/v1/domains', { headers: { 'X-Forwarded-For': ip, Authorization: `Bearer ${k}` } });
  // A disabled account's right keys are refused for the account, not counted as wrong credentials.
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: u.userId, AccountStatus: 'Disabled' });
  for (const k of keys) expect((await domains('198.51.100.30', k)).status).toBe(403);
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: u.userId, AccountStatus: 'Enabled' });
  expect((await domains('198.51.100.30', key)).status).toBe(200);

  for (let i = 0; i < 6; i++) expect((await domains('198.51.100.31', `sk_live_${'x'.repeat(30)}${i}`)).status).toBe(401);
  const held = await domains('198.51.100.31', key);
  expect(held.status).toBe(429);
  expect(held.body).toEqual({ error: expect.stringMatching(/^Too many different wrong credentials/), code: 'rate_limit_exceeded' });
});
