/**
 * Which door answers a request on the paths Octeth's v1 API and the platform API share, and on paths neither has,
 * through HTTP. Octeth's clients present `eg_live_…` sender keys (Bearer, X-API-Key or SenderAPIKey), user keys or
 * sessions, or nothing: each of those keeps Octeth's exact answer. A request whose credential headers hold an
 * account key (`sk_live_…`), cleanly or mangled, is a platform client's: its failures come in the platform's
 * `{error, code}`, and no unauthenticated request on a shared path answers 200 with anything but Octeth's `Errors`.
 */
import supertest from 'supertest';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
let key: string;
let userKey: string;

beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: s.userId, Plan: 'Enterprise' });
  key = await accountKey(h, s.sessionId);
  userKey = (await h.call({ Command: 'user.apikey.create', SessionID: s.sessionId, Note: 'octeth' })).APIKey.APIKey;
});
afterAll(async () => {
  await h.close();
});

type Call = { method: 'get' | 'post' | 'delete' | 'put'; path: string; body?: Record<string, unknown> };

async function send(c: Call, headers: Record<string, string>, query = ''): Promise<{ status: number; body: any }> {
  let r = supertest(h.app)[c.method](c.path + query);
  for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
  const res = c.body ? await r.send(c.body) : await r;
  return { status: res.status, body: res.body };
}

const SHARED: Call[] = [
  { method: 'get', path: '/api/v1/emails' },
  { method: 'get', path: '/api/v1/stats' },
  { method: 'get', path: '/api/v1/webhooks' },
  // Both APIs' fields, so neither side refuses the body before it reads the key.
  {
    method: 'post',
    path: '/api/v1/webhooks',
    body: { Event: 'delivered', WebhookURL: 'https://example.com/hook', url: 'https://example.com/hook', events: ['email.sent'] },
  },
  { method: 'get', path: '/api/v1/contacts' },
  { method: 'post', path: '/api/v1/contacts', body: { email: 'x@example.com', listId: '1' } },
];

const octethMissing = { status: 200, body: { Errors: [{ Code: 1, Message: 'Missing SenderAPIKey: send it as "Authorization: Bearer <key>"' }] } };
const octethInvalid = { status: 200, body: { Errors: [{ Code: 13, Message: 'Invalid SenderAPIKey' }] } };
const octethUserAuth = { status: 401, body: { Errors: [{ Code: 99998, Message: 'Authentication failure or session expired' }] } };
const isContacts = (c: Call) => c.path === '/api/v1/contacts';

describe('Octeth-style requests on shared paths keep their answers', () => {
  // What an Octeth client sends without a usable key: nothing, an empty or another scheme's Authorization, a wrong
  // or revoked key. A platform client sending the same cannot be told apart, and Octeth's contract answers these.
  const cases: [string, Record<string, string>, string, boolean][] = [
    ['no credential', {}, '', false],
    ['an empty Bearer', { Authorization: 'Bearer ' }, '', false],
    ['Basic credentials', { Authorization: 'Basic Zm9vOmJhcg==' }, '', false],
    ['a Bearer value that is no key', { Authorization: 'Bearer not-a-key' }, '', true],
    ['a wrong sender key as Bearer', { Authorization: 'Bearer eg_live_wrongwrongwrongwrongwrongwrong12' }, '', true],
    ['a wrong sender key as X-API-Key', { 'X-API-Key': 'eg_live_wrongwrongwrongwrongwrongwrong12' }, '', true],
    ['a wrong SenderAPIKey parameter', {}, '?SenderAPIKey=eg_live_wrongwrongwrongwrongwrongwrong12', true],
  ];
  for (const [name, headers, query, presented] of cases) {
    it(`answers ${name} in Octeth's envelope, with no data`, async () => {
      for (const c of SHARED) {
        const got = await send(c, headers, query);
        const want = isContacts(c) ? octethUserAuth : presented ? octethInvalid : octethMissing;
        expect({ call: `${c.method} ${c.path}`, ...got }).toEqual({ call: `${c.method} ${c.path}`, ...want });
      }
    });
  }

  it("answers a sender key, a user key and a session in Octeth's shapes", async () => {
    const bearer = { Authorization: `Bearer ${s.key}` };
    expect(Object.keys((await send(SHARED[0], bearer)).body).sort()).toEqual(['Emails', 'Page', 'Pages', 'Total']);
    expect((await send(SHARED[1], { 'X-API-Key': s.key })).body).toHaveProperty('Plan');
    expect((await send(SHARED[2], {}, `?SenderAPIKey=${s.key}`)).body).toHaveProperty('Webhooks');
    expect((await send(SHARED[4], { Authorization: `Bearer ${userKey}` })).body).toEqual({ contacts: [], total: 0, page: 1 });
    expect((await send(SHARED[4], {}, `?SessionID=${s.sessionId}`)).body).toEqual({ contacts: [], total: 0, page: 1 });
  });
});

describe('platform-style requests on shared paths', () => {
  const unauthorized = { status: 401, body: { error: expect.any(String), code: 'unauthorized' } };

  it('answers a clean account key that is not valid with 401 {error, code}', async () => {
    for (const c of SHARED) {
      const got = await send(c, { Authorization: 'Bearer sk_live_notakeynotakeynotakeynotakeynotakeynotake' });
      expect({ call: `${c.method} ${c.path}`, ...got }).toEqual({
        call: `${c.method} ${c.path}`,
        status: 401,
        body: { error: 'Invalid API key', code: 'unauthorized' },
      });
    }
  });

  it('answers an account key in a mangled Authorization or X-API-Key header with 401 {error, code}, never 200', async () => {
    const mangled: Record<string, string>[] = [
      { Authorization: `Bearer ${key} extra` }, // two tokens
      { Authorization: key }, // no scheme
      { Authorization: `Token ${key}` }, // another scheme
      { Authorization: `Bearer "${key}"` }, // quoted
      { Authorization: `Bearer: ${key}` },
      { Authorization: 'Bearer sk_live_ab cd' },
      { 'X-API-Key': `"${key}"` },
    ];
    for (const headers of mangled) {
      for (const c of SHARED) {
        const got = await send(c, headers);
        expect({ call: `${c.method} ${c.path}`, headers, ...got }).toEqual({ call: `${c.method} ${c.path}`, headers, ...unauthorized });
      }
    }
    // The platform's own routes say the same, rather than a generic "session expired".
    expect(await send({ method: 'get', path: '/api/v1/domains' }, { Authorization: `Bearer ${key} extra` })).toEqual({
      status: 401,
      body: { error: 'Send the account key as "Authorization: Bearer sk_live_…", nothing else in the header', code: 'unauthorized' },
    });
  });

  it('still answers a valid account key in the platform shapes', async () => {
    const bearer = { Authorization: `Bearer ${key}` };
    expect(Object.keys((await send(SHARED[0], bearer)).body).sort()).toEqual(['emails', 'page', 'pages', 'total']);
    expect(Object.keys((await send(SHARED[1], bearer)).body).sort()).toEqual(['campaigns', 'contacts', 'domains', 'emailsThisMonth']);
    expect((await send(SHARED[2], bearer)).body).toEqual({ webhooks: [] });
  });
});

describe('paths neither API has', () => {
  const unknown: Call[] = [
    { method: 'get', path: '/api/v1/nope' },
    { method: 'post', path: '/api/v1/emails/nope/deeper', body: {} },
    { method: 'put', path: '/api/v1/stats' },
    { method: 'delete', path: '/api/v1/emails' },
  ];
  const octeth404 = (c: Call) => ({ status: 404, body: { Errors: [{ Code: 404, Message: `No route for ${c.method.toUpperCase()} ${c.path}` }] } });

  it("answer Octeth's 404 to every Octeth-style request", async () => {
    const octethStyle: Record<string, string>[] = [
      {},
      { Authorization: `Bearer ${s.key}` },
      { Authorization: 'Bearer not-a-key' },
      { Authorization: `Bearer ${userKey}` },
    ];
    for (const headers of octethStyle) {
      for (const c of unknown) expect(await send(c, headers)).toEqual(octeth404(c));
    }
  });

  it("answer the platform's 404 {error, code} to a request with an account key", async () => {
    const platformStyle: Record<string, string>[] = [{ Authorization: `Bearer ${key}` }, { 'X-API-Key': key }, { Authorization: `Bearer ${key} extra` }];
    for (const headers of platformStyle) {
      for (const c of unknown) {
        expect(await send(c, headers)).toEqual({ status: 404, body: { error: `No route for ${c.method.toUpperCase()} ${c.path}`, code: 'not_found' } });
      }
    }
  });
});
