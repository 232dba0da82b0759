/**
 * Webhook formats chosen per subscription (webhook.create through /api.php with an account key): the CloudMails
 * payload, the platform payload with its hex HMAC `x-webhook-signature`, Standard Webhooks with the
 * subscription's own secret and real metadata; a test ping that activates only on a 2xx; account-wide and
 * domain-scoped subscriptions.
 */
import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { accountKey, addDomain, Harness, senderSetup, uniqueDomain } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { Hit, Receiver, startReceiver } from './receiver';

const WEBHOOK_ENV = { WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_MAX_FAILURES: '1000' };

let rig: RelayRig;
let h: Harness;
let rx: Receiver;
let worker: WebhookWorker;

beforeAll(async () => {
  rx = await startReceiver();
  rig = await startRelayRig(WEBHOOK_ENV);
  h = rig.h;
  rig.sink.onRcpt = (address) => (address.startsWith('bounce') ? smtpError(550, '5.1.1 <' + address + '>: no such user here') : undefined);
  worker = startWebhookWorker(h.services);
});
afterAll(async () => {
  await worker.stop();
  await rig.close();
  await rx.stop();
});

const path = (label: string) => `/hook/${label}-${crypto.randomBytes(4).toString('hex')}`;
const hitsAt = (p: string) => rx.hits.filter((x) => x.path === p);
const addr = (label: string) => `${label}.${crypto.randomBytes(4).toString('hex')}@recipient.test`;

const subscribe = (key: string, params: Record<string, unknown>) => h.call({ Command: 'webhook.create', SenderAPIKey: key, ...params });

async function send(key: string, from: string, to: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${key}` },
    body: { Subject: 'Formats', ContentType: 'plain', PlainContent: 'Hello', From: { email: from }, To: [{ email: to }], ...extra },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
}

/** The platform spec's own verification function, as its customers run it. */
function platformVerify(body: string, signature: string, secret: string): boolean {
  const expected = crypto.createHmac('sha256', secret).update(body).digest('hex');
  return signature.length === expected.length && crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}

describe('cloudmails format', () => {
  it('pings first, then posts {event,message_id,timestamp,recipient,custom_args} for delivered and bounced', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(h, s.sessionId);
    const p = path('cloudmails');
    const sub = await subscribe(key, { URL: rx.url(p), Events: ['delivered', 'bounced'], Format: 'cloudmails', Ping: 1 });
    expect(sub).toMatchObject({
      Success: true,
      Format: 'cloudmails',
      Events: ['delivered', 'bounced'],
      Active: true,
      Status: 'Enabled',
      DomainID: null,
      Ping: { OK: true, StatusCode: 200 },
    });
    expect(sub.Secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(hitsAt(p)).toHaveLength(1);
    expect(JSON.parse(hitsAt(p)[0].body)).toEqual({ event: 'ping', message_id: null, timestamp: expect.any(String), recipient: null, custom_args: {} });

    const to = addr('reader');
    const id = await send(key, `app@${s.domain}`, to, { Metadata: { user_id: '12345', plan: 'pro' } });
    const bounceTo = addr('bounce');
    const bounced = await send(key, `app@${s.domain}`, bounceTo);
    await waitFor(() => hitsAt(p).length === 3, 15000, 'cloudmails calls');
    const bodies = hitsAt(p)
      .slice(1)
      .map((x: Hit) => new Webhook(sub.Secret).verify(x.body, x.headers) as any);
    const delivered = bodies.find((b) => b.event === 'delivered');
    expect(delivered).toEqual({
      event: 'delivered',
      message_id: id,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      recipient: to,
      custom_args: { user_id: '12345', plan: 'pro' },
    });
    expect(bodies.find((b) => b.event === 'bounced')).toEqual({
      event: 'bounced',
      message_id: bounced,
      timestamp: expect.any(String),
      recipient: bounceTo,
      custom_args: {},
      reason: expect.stringContaining('550'),
    });
  });

  it('leaves a subscription inactive when the ping does not get a 2xx, delivers nothing to it, and activates it when added again', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(h, s.sessionId);
    const p = path('failing');
    rx.respond = (hit) => (hit.path === p ? 500 : 200);
    try {
      const sub = await subscribe(key, { URL: rx.url(p), Events: 'delivered', Format: 'cloudmails', Ping: true });
      expect(sub).toMatchObject({
        Success: true,
        Active: false,
        Status: 'Disabled',
        DisabledReason: 'test ping failed: HTTP 500',
        Ping: { OK: false, StatusCode: 500 },
      });
      await send(key, `app@${s.domain}`, addr('reader'));
      await waitFor(async () => (await h.services.db('deliveries').where({ user_id: s.userId, status: 'delivered' })).length === 1, 15000, 'delivery');
      await new Promise((r) => setTimeout(r, 300));
      expect(hitsAt(p)).toHaveLength(1);
      expect(await h.services.db('webhook_deliveries').where({ webhook_id: sub.WebhookID })).toHaveLength(0);
    } finally {
      rx.respond = () => 200;
    }
    const again = await subscribe(key, { URL: rx.url(p), Events: 'delivered', Format: 'cloudmails', Ping: true });
    expect(again).toMatchObject({ Active: true, Ping: { OK: true } });
    const list = await h.call({ Command: 'webhook.list', SenderAPIKey: key, Format: 'cloudmails' });
    expect(list.Webhooks).toEqual([expect.objectContaining({ WebhookID: again.WebhookID, URL: rx.url(p), Active: true, Events: ['delivered'] })]);
  });
});

describe('platform format', () => {
  it('posts {id,type:"email.…",createdAt,data} signed with a hex HMAC of the raw body, as the spec verifies it', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(h, s.sessionId);
    const p = path('platform');
    const sub = await subscribe(key, { URL: rx.url(p), Events: ['email.sent', 'email.bounced'], Format: 'platform' });
    expect(sub).toMatchObject({ Events: ['email.sent', 'email.bounced'], Active: true });
    const to = addr('reader');
    const id = await send(key, `app@${s.domain}`, to, { Metadata: { type: 'welcome' } });
    const bounceTo = addr('bounce');
    await send(key, `app@${s.domain}`, bounceTo);
    await waitFor(() => hitsAt(p).length === 2, 15000, 'platform calls');
    for (const hit of hitsAt(p)) {
      expect(platformVerify(hit.body, hit.headers['x-webhook-signature'], sub.Secret)).toBe(true);
      expect(platformVerify(hit.body.replace('email.', 'email_'), hit.headers['x-webhook-signature'], sub.Secret)).toBe(false);
      expect(hit.headers['webhook-signature']).toBeUndefined();
    }
    const bodies = hitsAt(p).map((x) => JSON.parse(x.body));
    // messageId is the send reply's id (peer-platform-api-v1.txt:44-47), not the Message-ID header.
    expect(bodies.find((b) => b.type === 'email.sent')).toEqual({
      id: expect.stringMatching(/^evt_[0-9a-f]{32}$/),
      type: 'email.sent',
      createdAt: expect.any(String),
      data: { emailId: id, messageId: id, to, domain: s.domain, tags: { type: 'welcome' } },
    });
    expect(bodies.find((b) => b.type === 'email.bounced').data).toMatchObject({ to: bounceTo, reason: expect.stringContaining('550'), bounceType: 'hard' });
  });

  it('answers 8 for an event name of another format, 9 for an unknown format and 6 for a non-http URL', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(h, s.sessionId);
    expect(await subscribe(key, { URL: rx.url('/x'), Events: ['opened'], Format: 'platform' })).toMatchObject({
      ErrorCode: 8,
      ErrorText: expect.stringContaining('email.opened'),
    });
    expect((await subscribe(key, { URL: rx.url('/x'), Events: ['opened'], Format: 'sendgrid' })).ErrorCode).toEqual([9]);
    expect((await subscribe(key, { URL: 'ftp://example.com/hook', Events: ['opened'] })).ErrorCode).toBe(6);
  });
});

describe('standard format and scopes', () => {
  it('signs with the subscription’s own secret, carries real metadata, and covers every domain of the account for an unrestricted key', async () => {
    const s = await senderSetup(h);
    const otherDomain = uniqueDomain('other');
    await h.services
      .db('sender_domains')
      .where({ id: await addDomain(h, s.sessionId, otherDomain) })
      .update({ status: 'Enabled' });
    const key = await accountKey(h, s.sessionId);
    const p = path('standard');
    const sub = await subscribe(key, { URL: rx.url(p), Events: 'delivered' });
    expect(sub).toMatchObject({ Format: 'standard', DomainID: null });
    const a = await send(key, `app@${s.domain}`, addr('reader'), { Metadata: { order_id: 'A-1' } });
    const b = await send(key, `app@${otherDomain}`, addr('reader'));
    await waitFor(() => hitsAt(p).length === 2, 15000, 'standard calls');
    const bodies = hitsAt(p).map((x) => new Webhook(sub.Secret).verify(x.body, x.headers) as any);
    expect(bodies.find((x) => x.data.message_id === a).data).toMatchObject({ domain: s.domain, metadata: { order_id: 'A-1' } });
    expect(bodies.find((x) => x.data.message_id === b).data).toMatchObject({ domain: otherDomain, metadata: {} });
    // Octeth's getwebhooks lists its own rows only; webhook.delete removes the subscription.
    const legacy = await h.call({ Command: 'emailgateway.getwebhooks', SessionID: s.sessionId, DomainID: s.domainId });
    expect(legacy.Webhooks).toEqual([]);
    expect(await h.call({ Command: 'webhook.delete', SenderAPIKey: key, WebhookID: sub.WebhookID })).toEqual({ Success: true, ErrorCode: 0 });
    expect((await h.call({ Command: 'webhook.delete', SenderAPIKey: key, WebhookID: sub.WebhookID })).ErrorCode).toBe(4);
  });

  it('keeps a domain-restricted key’s subscription to its domain, and refuses one restricted to several domains', async () => {
    const s = await senderSetup(h);
    const otherDomain = uniqueDomain('other');
    await h.services
      .db('sender_domains')
      .where({ id: await addDomain(h, s.sessionId, otherDomain) })
      .update({ status: 'Enabled' });
    const narrow = await accountKey(h, s.sessionId, { Domains: s.domain });
    const p = path('narrow');
    const sub = await subscribe(narrow, { URL: rx.url(p), Events: 'delivered', Format: 'cloudmails' });
    expect(sub.DomainID).toBe(s.domainId);
    const wide = await accountKey(h, s.sessionId);
    const mine = await send(wide, `app@${s.domain}`, addr('reader'));
    await send(wide, `app@${otherDomain}`, addr('reader'));
    await waitFor(() => hitsAt(p).length === 1, 15000, 'domain-scoped call');
    await waitFor(async () => (await h.services.db('deliveries').where({ user_id: s.userId, status: 'delivered' })).length === 2, 15000, 'both delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(hitsAt(p).map((x) => JSON.parse(x.body).message_id)).toEqual([mine]);
    const two = await accountKey(h, s.sessionId, { Domains: `${s.domain},${otherDomain}` });
    expect((await subscribe(two, { URL: rx.url(p), Events: 'delivered' })).ErrorCode).toBe(99999);
    // Another account's key sees none of these subscriptions.
    const stranger = await accountKey(h, (await senderSetup(h)).sessionId);
    expect((await h.call({ Command: 'webhook.list', SenderAPIKey: stranger })).Webhooks).toEqual([]);
    expect((await h.call({ Command: 'webhook.delete', SenderAPIKey: stranger, WebhookID: sub.WebhookID })).ErrorCode).toBe(4);
  });

  it('answers each door’s domain-not-found error to a key restricted to a domain deleted since, and stores nothing', async () => {
    const s = await senderSetup(h);
    const key = await accountKey(h, s.sessionId, { Domains: s.domain });
    expect(await h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: s.domainId })).toMatchObject({ Success: true });
    const url = rx.url(path('gone'));
    const post = (p: string, body: Record<string, unknown>) => h.request('POST', p, { headers: { Authorization: `Bearer ${key}` }, body });

    expect(await subscribe(key, { URL: url, Events: 'delivered' })).toMatchObject({
      Success: false,
      ErrorCode: 46,
      ErrorText: expect.stringMatching(/no longer exists/),
    });
    const platform = await post('/api/v1/webhooks', { url, events: ['email.sent'] });
    expect([platform.status, platform.body]).toEqual([400, { error: expect.stringMatching(/no longer exists/), code: 'domain_not_found' }]);
    const cloudmails = await post('/v1/webhooks', { url, events: ['delivered'] });
    expect([cloudmails.status, cloudmails.body.message]).toEqual([403, expect.stringMatching(/no longer exists/)]);
    expect(await h.services.db('webhooks').where({ user_id: s.userId })).toEqual([]);
  });
});
