/**
 * Gaps at the JSON doors' edges, through HTTP: an oversized body is a 413 in each door's own envelope, answered
 * before the rest of the body arrives; a UTF-8 BOM before a JSON body is read past; on the platform door an
 * uppercase message id finds its email, an empty `listId` filter is a 400 naming it, `Idempotency-Key` makes a
 * retried send answer its first reply without sending again (per credential; another body is a 409), and a request
 * without a usable key is told so in the platform's own words.
 */
import http from 'node:http';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';
import { listen } from './conformance';

const LIMIT = 4096;
let h: Harness;
let gw: { base: string; close(): Promise<void> };
let s: Awaited<ReturnType<typeof senderSetup>>;
let key: string;

beforeAll(async () => {
  h = await startHarness({ MAX_REQUEST_BYTES: String(LIMIT) });
  gw = await listen(h.app);
  s = await senderSetup(h);
  key = await accountKey(h, s.sessionId);
});
afterAll(async () => {
  await gw.close();
  await h.services.queues.close();
  await h.close();
});

type Reply = { status: number; body: any; headers: Headers };

async function call(
  method: string,
  path: string,
  opts: { key?: string | null; body?: string | object; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const k = opts.key === undefined ? key : opts.key;
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const r = await fetch(`${gw.base}${path}`, {
    method,
    headers: { ...(k ? { Authorization: `Bearer ${k}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...opts.headers },
    body,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null, headers: r.headers };
}

const mail = (extra: Record<string, unknown> = {}) => ({ to: 'ann@recipient.test', from: `app@${s.domain}`, subject: 'Hi', html: '<p>Hi</p>', ...extra });
const messagesOf = async (userId: number) => Number(((await h.services.db('messages').where({ user_id: userId }).count({ n: '*' })) as { n: unknown }[])[0].n);

const TOO_LARGE = `Request body is larger than ${LIMIT} bytes.`;
const DOORS: { path: string; envelope: unknown }[] = [
  { path: '/api/v1/emails', envelope: { error: TOO_LARGE, code: 'payload_too_large' } },
  { path: '/v1/send', envelope: { code: 413, error: 'Payload Too Large', message: TOO_LARGE } },
  { path: '/email/v1/send', envelope: { success: false, error: { code: 'payload_too_large', message: TOO_LARGE } } },
];

/**
 * Starts a POST of more than LIMIT bytes and never finishes it: the reply must come while the client is still
 * sending (`declared`: a Content-Length of 50 MB; otherwise chunked). Resolves to the status and body, or rejects
 * after 5 s.
 */
function unfinishedUpload(path: string, declared: boolean): Promise<{ status: number; body: any }> {
  const { port } = new URL(gw.base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
    if (declared) headers['Content-Length'] = String(50 * 1024 * 1024);
    const req = http.request({ host: '127.0.0.1', port: Number(port), method: 'POST', path, headers });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no reply to an unfinished ${declared ? 'sized' : 'chunked'} upload to ${path}`));
    }, 5000);
    req.on('response', (res) => {
      let raw = '';
      res.on('data', (c) => (raw += c));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(raw) });
      });
    });
    req.on('error', () => undefined); // destroyed by us, or the server closing a connection it will not read on
    req.write(`{"to":"ann@recipient.test","filler":"${'x'.repeat(LIMIT)}`);
  });
}

describe('an oversized body', () => {
  it.each(DOORS)('is a 413 in the envelope of $path', async ({ path, envelope }) => {
    const r = await call('POST', path, { body: mail({ html: 'x'.repeat(LIMIT * 2) }) });
    expect({ status: r.status, body: r.body }).toEqual({ status: 413, body: envelope });
  });

  it.each(DOORS)('is answered at $path before the client has sent the rest (sized or chunked)', async ({ path, envelope }) => {
    expect(await unfinishedUpload(path, true)).toEqual({ status: 413, body: envelope });
    expect(await unfinishedUpload(path, false)).toEqual({ status: 413, body: envelope });
  });

  it("keeps Octeth's /api.php reply, now without waiting for the rest", async () => {
    expect(await unfinishedUpload('/api.php', true)).toMatchObject({ status: 413, body: { ErrorCode: 100006, ErrorText: TOO_LARGE } });
  });
});

describe('a UTF-8 byte order mark before a JSON body', () => {
  it('is read past on the platform, CloudMails and CyberPanel doors', async () => {
    const before = await messagesOf(s.userId);
    const bom = `\uFEFF${JSON.stringify(mail())}`;
    expect(await call('POST', '/api/v1/emails', { body: bom })).toMatchObject({ status: 200, body: { status: 'sent' } });
    expect(await call('POST', '/v1/send', { body: bom })).toMatchObject({ status: 200, body: { status: 'sent' } });
    expect(await call('POST', '/email/v1/send', { body: bom })).toMatchObject({ status: 202, body: { success: true } });
    // Undeclared (curl -d sends form-urlencoded): the BOM does not hide that the body is JSON.
    expect(await call('POST', '/api/v1/emails', { body: bom, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })).toMatchObject({
      status: 200,
    });
    expect(await messagesOf(s.userId)).toBe(before + 4);
  });
});

describe('a message id in uppercase', () => {
  it('finds the email on GET /api/v1/emails/:id, as the id it was given', async () => {
    const sent = await call('POST', '/api/v1/emails', { body: mail() });
    expect(sent.status).toBe(200);
    const id = String(sent.body.id);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const got = await call('GET', `/api/v1/emails/${id.toUpperCase()}`);
    expect({ status: got.status, id: got.body.email?.id }).toEqual({ status: 200, id });
    // Not a wildcard: another id in uppercase is still not found.
    const other = await call('GET', `/api/v1/emails/${'0f'.repeat(4)}-0000-4000-8000-${'0'.repeat(12)}`.toUpperCase());
    expect(other.status).toBe(404);
  });
});

describe('GET /api/v1/contacts with an empty listId', () => {
  it('is a 400 naming listId, in the platform envelope', async () => {
    const r = await call('GET', '/api/v1/contacts?listId=');
    expect({ status: r.status, body: r.body }).toEqual({
      status: 400,
      body: { error: 'listId must be a list id: leave it out to list the contacts of every list', code: 'invalid_request' },
    });
    // Left out, every list's contacts are listed.
    expect((await call('GET', '/api/v1/contacts')).status).toBe(200);
  });
});

describe('Idempotency-Key on POST /api/v1/emails and /api/v1/emails/batch', () => {
  it('answers a retry with the first reply and sends nothing twice; another body under the key is a 409', async () => {
    const u = await senderSetup(h);
    const k = await accountKey(h, u.sessionId);
    const body = { to: 'ann@recipient.test', from: `app@${u.domain}`, subject: 'Order 1', html: '<p>1</p>' };
    const first = await call('POST', '/api/v1/emails', { key: k, body, headers: { 'Idempotency-Key': 'order-1' } });
    expect(first.status).toBe(200);
    const again = await call('POST', '/api/v1/emails', { key: k, body, headers: { 'Idempotency-Key': 'order-1' } });
    expect({ status: again.status, body: again.body, replayed: again.headers.get('idempotent-replayed') }).toEqual({
      status: 200,
      body: first.body,
      replayed: 'true',
    });
    expect(await messagesOf(u.userId)).toBe(1);
    const changed = await call('POST', '/api/v1/emails', { key: k, body: { ...body, subject: 'Order 2' }, headers: { 'Idempotency-Key': 'order-1' } });
    expect({ status: changed.status, body: changed.body }).toEqual({
      status: 409,
      body: { error: 'Idempotency-Key was already used with a different request body', code: 'idempotency_conflict' },
    });
    expect(await messagesOf(u.userId)).toBe(1);
    // Without a key, the same request is another email.
    expect((await call('POST', '/api/v1/emails', { key: k, body })).status).toBe(200);
    expect(await messagesOf(u.userId)).toBe(2);

    const batch = { emails: [body, { ...body, to: 'bob@recipient.test' }] };
    const b1 = await call('POST', '/api/v1/emails/batch', { key: k, body: batch, headers: { 'Idempotency-Key': 'batch-1' } });
    expect(b1).toMatchObject({ status: 200, body: { total: 2, sent: 2, failed: 0 } });
    const b2 = await call('POST', '/api/v1/emails/batch', { key: k, body: batch, headers: { 'Idempotency-Key': 'batch-1' } });
    expect({ status: b2.status, body: b2.body }).toEqual({ status: 200, body: b1.body });
    expect(await messagesOf(u.userId)).toBe(4);
  });

  it("does not replay, or refuse, another account's request under the same key", async () => {
    const a = await senderSetup(h);
    const b = await senderSetup(h);
    const [ka, kb] = [await accountKey(h, a.sessionId), await accountKey(h, b.sessionId)];
    const send = (k: string, domain: string) =>
      call('POST', '/api/v1/emails', {
        key: k,
        body: { to: 'ann@recipient.test', from: `app@${domain}`, subject: 'Hi', html: '<p>Hi</p>' },
        headers: { 'Idempotency-Key': 'shared-key' },
      });
    const ra = await send(ka, a.domain);
    const rb = await send(kb, b.domain);
    expect([ra.status, rb.status, rb.headers.get('idempotent-replayed')]).toEqual([200, 200, null]);
    expect(rb.body.id).not.toBe(ra.body.id);
    expect([await messagesOf(a.userId), await messagesOf(b.userId)]).toEqual([1, 1]);
  });

  it('refuses an Idempotency-Key over 256 characters by name, sending nothing', async () => {
    const u = await senderSetup(h);
    const k = await accountKey(h, u.sessionId);
    const r = await call('POST', '/api/v1/emails', { key: k, body: mail({ from: `app@${u.domain}` }), headers: { 'Idempotency-Key': 'k'.repeat(257) } });
    expect({ status: r.status, body: r.body }).toEqual({
      status: 400,
      body: { error: 'Idempotency-Key must be at most 256 characters', code: 'invalid_request' },
    });
    expect(await messagesOf(u.userId)).toBe(0);
  });
});

describe('a request without a usable key', () => {
  it("is told so in the platform's words, not Octeth's", async () => {
    const missing = { error: 'Missing API key: send "Authorization: Bearer sk_live_…"', code: 'unauthorized' };
    for (const [method, path] of [
      ['GET', '/api/v1/domains'],
      ['POST', '/api/v1/emails'],
      ['GET', '/api/v1/emails/0f0f0f0f-0000-4000-8000-000000000000'],
      ['GET', '/api/v1/campaigns'],
    ]) {
      const r = await call(method, path, { key: null, ...(method === 'POST' ? { body: mail() } : {}) });
      expect({ path, status: r.status, body: r.body }).toEqual({ path, status: 401, body: missing });
    }
    // A key that is not one, of any kind, is an invalid key, whichever command the route runs.
    const invalid = { status: 401, body: { error: 'Invalid API key', code: 'unauthorized' } };
    for (const k of ['sk_live_madeupmadeupmadeupmadeupmadeupmadeup', 'not-a-key', 'eg_live_madeup']) {
      for (const [method, path] of [
        ['GET', '/api/v1/campaigns'],
        ['POST', '/api/v1/emails'],
      ]) {
        const r = await call(method, path, { key: k, ...(method === 'POST' ? { body: mail() } : {}) });
        expect({ k, path, status: r.status, body: r.body }).toEqual({ k, path, ...invalid });
      }
    }
  });
});
