/**
 * Conformance of the platform dialect (spec/peer-platform-api-v1.txt): the spec's own curl lines run with the real
 * curl binary against a gateway listening on 127.0.0.1 (only host, key and example ids replaced), the spec's JSON
 * bodies through fetch, every documented field and type asserted. Also: the key kind choosing the dialect on the
 * paths Octeth shares, hex-HMAC webhooks at a local receiver, per-plan rate limits and the error shape.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { createCampaignWorker, CampaignWorker } from '../../src/campaigns/launcher';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { createUser, Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';
import { curl, listen } from './conformance';

let h: Harness;
let sink: Sink;
let gw: { base: string; close(): Promise<void> };
let hooks: { url: string; got: { headers: http.IncomingHttpHeaders; raw: string }[]; close(): Promise<void> };
let s: Awaited<ReturnType<typeof senderSetup>>;
let key: string;
let listId: number;
const workers: { delivery?: DeliveryWorker; campaigns?: CampaignWorker; webhooks?: WebhookWorker } = {};

async function accountKey(sessionId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'platform', KeyType: 'account', ...extra });
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.APIKey.APIKey;
}

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness({
    DELIVERY_MODE: 'relay',
    SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
    WEBHOOK_ALLOW_PRIVATE: '1',
    WEBHOOK_POLL_MS: '100',
    SWEEP_INTERVAL_SECONDS: '1',
  });
  gw = await listen(h.app);
  const got: { headers: http.IncomingHttpHeaders; raw: string }[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      got.push({ headers: req.headers, raw });
      res.end('OK');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  hooks = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`, got, close: () => new Promise((r) => server.close(() => r())) };
  s = await senderSetup(h);
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: s.userId, Plan: 'Enterprise' });
  key = await accountKey(s.sessionId);
  listId = (await h.call({ Command: 'list.create', SessionID: s.sessionId, SubscriberListName: 'Customers', SenderEmailAddress: `news@${s.domain}` })).ListID;
});
afterAll(async () => {
  await h.services.queues.close();
  await workers.delivery?.stop();
  await workers.campaigns?.stop();
  await workers.webhooks?.stop();
  await gw.close();
  await hooks.close();
  await h.close();
  await sink.close();
});

const sub = (line: string, more: [string | RegExp, string][] = []) =>
  curl(line, [
    [/https:\/\/your-app\.com\/api/g, `${gw.base}/api`],
    [/sk_live_your_key/g, key],
    [/you@yourdomain\.com|you@domain\.com/g, `you@${s.domain}`],
    ...more,
  ]);

let emailId = '';

describe('emails', () => {
  it('POST /api/v1/emails: the spec curl answers {id, status, messageId}', async () => {
    const r = await sub(`curl -X POST https://your-app.com/api/v1/emails \\
-H "Authorization: Bearer sk_live_your_key" \\
-H "Content-Type: application/json" \\
-d '{
"to": "user@example.com",
"from": "you@yourdomain.com",
"subject": "Welcome!",
"html": "<h1>Hello!</h1><p>Welcome aboard.</p>",
"tags": { "type": "welcome" }
}'`);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['id', 'messageId', 'status']);
    expect(r.body).toEqual({ id: expect.any(String), status: 'sent', messageId: expect.any(String) });
    emailId = r.body.id;
    const m = await h.services.db('messages').where({ id: emailId }).first('metadata', 'tags', 'from_email');
    expect(JSON.parse(m.metadata)).toEqual({ type: 'welcome' });
    expect(JSON.parse(m.tags)).toEqual(['type:welcome']);
  });

  it('POST /api/v1/emails/batch: the spec curl answers results, total, sent, failed', async () => {
    const r = await sub(`curl -X POST https://your-app.com/api/v1/emails/batch \\
-H "Authorization: Bearer sk_live_your_key" \\
-H "Content-Type: application/json" \\
-d '{
"emails": [
{ "to": "a@example.com", "from": "you@domain.com", "subject": "Hi", "html": "<p>Hello A</p>" },
{ "to": "b@example.com", "from": "you@domain.com", "subject": "Hi", "html": "<p>Hello B</p>" }
]
}'`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      results: [
        { to: 'a@example.com', id: expect.any(String), status: 'sent' },
        { to: 'b@example.com', id: expect.any(String), status: 'sent' },
      ],
      total: 2,
      sent: 2,
      failed: 0,
    });
    // Each email on its own: a malformed one fails alone, the rest are sent.
    const mixed = await fetch(`${gw.base}/api/v1/emails/batch`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        emails: [
          { to: 'a@example.com', from: `you@${s.domain}`, subject: 'Hi', html: 'x' },
          { to: 'b@example.com', from: `you@${s.domain}`, subject: 'Hi' },
          'not an email',
          { to: 'c@example.com', from: `you@${s.domain}`, subject: 'Hi', html: 'x', tags: ['not', 'an', 'object'] },
        ],
      }),
    });
    expect(mixed.status).toBe(200);
    const body = (await mixed.json()) as { total: number; results: { to: unknown; id: unknown; status: string; error?: string }[] };
    expect(body).toMatchObject({ total: 4, sent: 1, failed: 3 });
    expect(body.results[0]).toEqual({ to: 'a@example.com', id: expect.any(String), status: 'sent' });
    expect(body.results.slice(1).map((x: { to: unknown; id: unknown; status: string }) => [x.to, x.id, x.status])).toEqual([
      ['b@example.com', null, 'failed'],
      [null, null, 'failed'],
      ['c@example.com', null, 'failed'],
    ]);
    expect(body.results[2].error).toBe('each email must be an object');
    expect(body.results[3].error).toBe('tags must be an object of string values');
    const over = await fetch(`${gw.base}/api/v1/emails/batch`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ emails: Array.from({ length: 101 }, () => ({ to: 'a@example.com', from: `you@${s.domain}`, subject: 'Hi', html: 'x' })) }),
    });
    expect(over.status).toBe(400);
    expect(await over.json()).toEqual({ error: 'emails must be an array of 1 to 100 emails', code: 'invalid_request' });
  });

  it('GET /api/v1/emails: the spec curl answers {emails[…], total, page, pages}', async () => {
    const r = await sub(`curl "https://your-app.com/api/v1/emails?limit=20&status=sent" \\
-H "Authorization: Bearer sk_live_your_key"`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ total: 4, page: 1, pages: 1 });
    expect(r.body.emails).toHaveLength(4);
    for (const e of r.body.emails) {
      expect(e).toMatchObject({ id: expect.any(String), to: expect.any(String), subject: expect.any(String), status: 'sent', opens: 0 });
    }
  });

  it('GET /api/v1/emails/:id: the spec curl answers {email{…,opens,clicks}, events[{type,createdAt}]} once delivered', async () => {
    workers.delivery = createDeliveryWorker(h.services);
    await waitFor(() => sink.received.length >= 3, 20000, 'the three emails');
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: emailId }).first('status')).status === 'delivered', 10000, 'delivered');
    const r = await sub(
      `curl https://your-app.com/api/v1/emails/clx1234 \\
-H "Authorization: Bearer sk_live_your_key"`,
      [['clx1234', emailId]],
    );
    expect(r.status).toBe(200);
    expect(r.body.email).toMatchObject({ id: emailId, to: 'user@example.com', status: 'delivered', opens: 0, clicks: 0 });
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['sent', 'delivered']);
    for (const e of r.body.events) expect(new Date(e.createdAt).toISOString()).toBe(e.createdAt);
    const missing = await fetch(`${gw.base}/api/v1/emails/${crypto.randomUUID()}`, { headers: { Authorization: `Bearer ${key}` } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'Message not found', code: 'not_found' });
  });
});

describe('contacts, domains, stats', () => {
  it('POST and GET /api/v1/contacts take the account key', async () => {
    const r = await sub(
      `curl -X POST https://your-app.com/api/v1/contacts \\
-H "Authorization: Bearer sk_live_your_key" \\
-H "Content-Type: application/json" \\
-d '{ "email": "new@example.com", "name": "John Doe", "listId": "list_id" }'`,
      [['list_id', String(listId)]],
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: expect.any(String), email: 'new@example.com', name: 'John Doe', status: 'subscribed', listId: String(listId) });
    const l = await sub(
      `curl "https://your-app.com/api/v1/contacts?limit=50&listId=..." \\
-H "Authorization: Bearer sk_live_your_key"`,
      [['listId=...', `listId=${listId}`]],
    );
    expect(l.body).toMatchObject({ total: 1, page: 1 });
    expect(l.body.contacts[0]).toEqual({ ...r.body, suppressed: false });
    // Failures in the platform's envelope, as every other platform route answers them.
    const post = (body: unknown) =>
      fetch(`${gw.base}/api/v1/contacts`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (x) => [x.status, await x.json()]);
    expect(await post({ email: 'new@example.com', listId: String(listId) })).toEqual([
      400,
      { error: 'The contact is already on this list', code: 'invalid_request' },
    ]);
    expect(await post({ email: 'other@example.com', listId: '999999' })).toEqual([404, { error: 'List not found', code: 'not_found' }]);
    const foreign = await fetch(`${gw.base}/api/v1/contacts?listId=999999`, { headers: { Authorization: `Bearer ${key}` } });
    expect([foreign.status, await foreign.json()]).toEqual([404, { error: 'List not found', code: 'not_found' }]);
  });

  it("GET /api/v1/domains lists the account's domains and POST …/verify checks one now", async () => {
    const r = await sub(`curl https://your-app.com/api/v1/domains \\
-H "Authorization: Bearer sk_live_your_key"`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ domains: [{ id: String(s.domainId), domain: s.domain, status: 'verified' }] });
    const other = (await h.call({ Command: 'emailgateway.adddomain', SessionID: s.sessionId, DomainName: `second.${s.domain}` })).NewSenderDomainID;
    const v = await sub(
      `curl -X POST https://your-app.com/api/v1/domains/dom_id/verify \\
-H "Authorization: Bearer sk_live_your_key"`,
      [['dom_id', String(other)]],
    );
    expect(v.status).toBe(200);
    expect(v.body).toEqual({ status: 'pending', domain: `second.${s.domain}` }); // no DNS records are published here
    await h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: other });
  });

  it('GET /api/v1/stats: the spec curl answers contacts, campaigns{total,sending,completed}, emailsThisMonth, domains', async () => {
    const r = await sub(`curl https://your-app.com/api/v1/stats \\
-H "Authorization: Bearer sk_live_your_key"`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      contacts: 1,
      campaigns: { total: expect.any(Number), sending: expect.any(Number), completed: expect.any(Number) },
      emailsThisMonth: 4,
      domains: 1,
    });
  });
});

describe('webhooks', () => {
  it('POST and GET /api/v1/webhooks; deliveries carry x-webhook-signature, the hex HMAC-SHA256 of the raw body', async () => {
    workers.webhooks = startWebhookWorker(h.services);
    const r = await sub(
      `curl -X POST https://your-app.com/api/v1/webhooks \\
-H "Authorization: Bearer sk_live_your_key" \\
-H "Content-Type: application/json" \\
-d '{
"url": "https://your-app.com/webhook",
"events": ["email.sent", "email.opened", "email.clicked", "email.bounced"]
}'`,
      [['https://your-app.com/webhook', hooks.url]],
    );
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      id: expect.any(String),
      url: hooks.url,
      secret: expect.stringMatching(/^whsec_/),
      events: ['email.sent', 'email.opened', 'email.clicked', 'email.bounced'],
    });
    const secret = r.body.secret as string;
    const l = await sub(`curl https://your-app.com/api/v1/webhooks \\
-H "Authorization: Bearer sk_live_your_key"`);
    expect(l.body).toEqual({ webhooks: [{ id: r.body.id, url: hooks.url, events: r.body.events, isActive: true }] });

    const sent = await fetch(`${gw.base}/api/v1/emails`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ to: 'hooked@example.com', from: `you@${s.domain}`, subject: 'Hooked', text: 'hi' }),
    });
    const { id, messageId } = (await sent.json()) as { id: string; messageId: string };
    await waitFor(() => hooks.got.some((g) => JSON.parse(g.raw).data?.emailId === id), 20000, 'the email.sent webhook');
    const call = hooks.got.find((g) => JSON.parse(g.raw).data?.emailId === id)!;
    // The spec's own verification: HMAC-SHA256 of the body with the secret, hex, compared in constant time.
    const expected = crypto.createHmac('sha256', secret).update(call.raw).digest('hex');
    const sig = String(call.headers['x-webhook-signature']);
    expect(crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(expected))).toBe(true);
    expect(JSON.parse(call.raw)).toMatchObject({ type: 'email.sent', data: { emailId: id, messageId, to: 'hooked@example.com' } });
    // The call's messageId finds the message, as the send reply's does.
    const found = await fetch(`${gw.base}/api/v1/emails/${JSON.parse(call.raw).data.messageId}`, { headers: { Authorization: `Bearer ${key}` } });
    expect(found.status).toBe(200);
  });

  it("a second POST for the same URL adds its events to the endpoint instead of replacing the first one's", async () => {
    const post = (events: string[]) =>
      fetch(`${gw.base}/api/v1/webhooks`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ url: `${hooks.url}/groups`, events }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));
    const first = await post(['email.sent', 'email.opened']);
    expect(first.status).toBe(200);
    const second = await post(['email.bounced', 'email.opened']);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, secret: first.body.secret });
    expect([...second.body.events].sort()).toEqual(['email.bounced', 'email.opened', 'email.sent']);
    const listed = (await (await fetch(`${gw.base}/api/v1/webhooks`, { headers: { Authorization: `Bearer ${key}` } })).json()) as { webhooks: any[] };
    const mine = listed.webhooks.filter((w) => w.url === `${hooks.url}/groups`);
    expect(mine).toHaveLength(1);
    expect([...mine[0].events].sort()).toEqual(['email.bounced', 'email.opened', 'email.sent']);
  });
});

describe('campaigns', () => {
  it('creates, launches and completes a campaign with the spec curls, with live progress', async () => {
    workers.campaigns = createCampaignWorker(h.services);
    for (const e of ['c1@example.com', 'c2@example.com']) {
      await fetch(`${gw.base}/api/v1/contacts`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: e, listId: String(listId) }),
      });
    }
    const c = await sub(
      `curl -X POST https://your-app.com/api/v1/campaigns \\
-H "Authorization: Bearer sk_live_your_key" \\
-H "Content-Type: application/json" \\
-d '{ "name": "March Newsletter", "subject": "News!", "listId": "...", "content": "<h1>Hello</h1>" }'`,
      [['"listId": "..."', `"listId": "${listId}"`]],
    );
    expect(c.status).toBe(200);
    expect(c.body).toEqual({ id: expect.any(String), name: 'March Newsletter', status: 'draft' });
    const launched = await sub(
      `curl -X POST https://your-app.com/api/v1/campaigns/camp_id/launch \\
-H "Authorization: Bearer sk_live_your_key"`,
      [['camp_id', c.body.id]],
    );
    expect(launched.status).toBe(200);
    expect(launched.body).toEqual({ success: true, status: 'sending' });
    const get = () => fetch(`${gw.base}/api/v1/campaigns/${c.body.id}`, { headers: { Authorization: `Bearer ${key}` } }).then((x) => x.json() as Promise<any>);
    await waitFor(async () => (await get()).delivered === 3, 30000, 'the campaign delivered');
    expect(await get()).toMatchObject({
      id: c.body.id,
      name: 'March Newsletter',
      listId: String(listId),
      status: 'completed',
      recipients: 3,
      queued: 3,
      sent: 3,
      cancelled: 0,
      delivered: 3,
      bounced: 0,
      opened: 0,
      clicked: 0,
    });
    const list = await fetch(`${gw.base}/api/v1/campaigns`, { headers: { Authorization: `Bearer ${key}` } }).then((x) => x.json() as Promise<any>);
    expect(list).toMatchObject({ total: 1, campaigns: [{ id: c.body.id, status: 'completed' }] });
    const stats = await fetch(`${gw.base}/api/v1/stats`, { headers: { Authorization: `Bearer ${key}` } }).then((x) => x.json() as Promise<any>);
    expect(stats.campaigns).toEqual({ total: 1, sending: 0, completed: 1 });
  });
});

describe('the key kind decides the dialect on shared paths', () => {
  it('answers Octeth shapes to a sender key and platform shapes to an account key on /api/v1/stats, /webhooks and /emails', async () => {
    const get = (path: string, k: string) => fetch(`${gw.base}${path}`, { headers: { Authorization: `Bearer ${k}` } }).then((x) => x.json() as Promise<any>);
    expect(Object.keys(await get('/api/v1/stats', key)).sort()).toEqual(['campaigns', 'contacts', 'domains', 'emailsThisMonth']);
    expect(await get('/api/v1/stats', s.key)).toHaveProperty('Plan');
    expect(Object.keys(await get('/api/v1/webhooks', key))).toEqual(['webhooks']);
    expect(Object.keys(await get('/api/v1/webhooks', s.key))).toContain('Webhooks');
    expect(Object.keys(await get('/api/v1/emails', key)).sort()).toEqual(['emails', 'page', 'pages', 'total']);
    expect(Object.keys(await get('/api/v1/emails', s.key)).sort()).toEqual(['Emails', 'Page', 'Pages', 'Total']);
  });
});

describe('errors and limits', () => {
  it('answers 401 without a key, 403 for a key without the permission, in {error, code}', async () => {
    const none = await fetch(`${gw.base}/api/v1/domains`);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: expect.any(String), code: 'unauthorized' });
    const readOnly = await accountKey(s.sessionId, { CanSend: 0 });
    const r = await fetch(`${gw.base}/api/v1/emails`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${readOnly}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ to: 'x@example.com', from: `you@${s.domain}`, subject: 'x', text: 'x' }),
    });
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ error: 'This API key lacks the can_send permission', code: 'forbidden' });
  });

  it('limits a Starter account to 100 requests a minute across its keys: the 101st is 429 with Retry-After', async () => {
    const u = await createUser(h);
    const k = await accountKey(u.sessionId);
    for (let i = 0; i < 100; i += 20) {
      const burst = await Promise.all(Array.from({ length: 20 }, () => fetch(`${gw.base}/api/v1/domains`, { headers: { Authorization: `Bearer ${k}` } })));
      for (const b of burst) expect(b.status).toBe(200);
    }
    const limited = await fetch(`${gw.base}/api/v1/domains`, { headers: { Authorization: `Bearer ${k}` } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ code: 'rate_limit_exceeded' });
  });
});
