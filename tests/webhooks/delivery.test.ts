import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { Harness, senderSetup } from '../helpers/harness';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { smtpError, waitFor } from '../helpers/sink';
import { encrypt } from '../../src/auth/secrets';
import { queueWebhookEvents } from '../../src/webhooks/outbox';
import { retryDelayMs, startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';
import { Receiver, startReceiver, verifyHit } from './receiver';

// The receiver listens on 127.0.0.1: this file lets webhooks reach loopback (the guard has its own file).
// Single tests change a setting on the running config, which the webhook worker reads on every pass.
const WEBHOOK_ENV = { WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_MAX_FAILURES: '1000' };
// The workers of this file run as on a host with the longest name Linux allows (HOST_NAME_MAX): their lease owners must fit.
const LONG_HOST = `worker-${'x'.repeat(45)}.example.com`;

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let rig: RelayRig;
let h: Harness;
let rx: Receiver;
let worker: WebhookWorker;

beforeAll(async () => {
  rx = await startReceiver();
  rig = await startRelayRig(WEBHOOK_ENV, { hostname: LONG_HOST });
  h = rig.h;
  rig.sink.onRcpt = (address) => (address.startsWith('bounce') ? smtpError(550, '5.1.1 <' + address + '>: no such user here') : undefined);
  worker = startWebhookWorker(h.services, { hostname: LONG_HOST });
});
afterAll(async () => {
  await worker.stop();
  await rig.close();
  await rx.stop();
});

const cmd = (command: string, s: Sender, params: Record<string, unknown> = {}) =>
  h.call({ Command: `emailgateway.${command}`, SessionID: s.sessionId, DomainID: s.domainId, ...params });

async function send(s: Sender, to: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'Webhook test',
      ContentType: 'plain',
      PlainContent: 'Hello',
      From: { name: 'App', email: `app@${s.domain}` },
      To: to.map((email) => ({ name: '', email })),
      ...extra,
    },
  });
  if (res.status !== 200) throw new Error(`send failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.MessageID;
}

const path = (label: string) => `/hook/${label}-${crypto.randomBytes(4).toString('hex')}`;
const hitsAt = (p: string) => rx.hits.filter((x) => x.path === p);
const addr = (label: string) => `${label}.${crypto.randomBytes(4).toString('hex')}@recipient.test`;

async function addHook(s: Sender, event: string, p: string): Promise<number> {
  const r = await cmd('addwebhook', s, { Event: event, WebhookURL: rx.url(p) });
  expect(r).toEqual({ Success: true, ErrorCode: 0, NewWebhookID: expect.any(Number) });
  return r.NewWebhookID;
}

const log = async (s: Sender, webhookId: number) => (await cmd('getwebhooklog', s, { WebhookID: webhookId })).Attempts.slice().reverse();

describe('webhook delivery', () => {
  // The first six run side by side (each mostly waits for a delivery and its call): each has its own sender, domain,
  // paths and recipients, and none changes the receiver's answers, the running config or the worker, as the later
  // tests do one at a time.
  it.concurrent('signs with the replaced key too for the grace after regeneratesigningkey, then with the new key alone', async () => {
    const s = await senderSetup(h);
    const p = path('rotated');
    await addHook(s, 'delivery', p);
    const old = await cmd('getwebhooks', s);
    const rotated = await cmd('regeneratesigningkey', s);
    expect(rotated.SigningKey).not.toBe(old.SigningKey);
    // A second regeneration within the grace keeps the first key (the one receivers may hold) as the old one.
    const fresh = await cmd('regeneratesigningkey', s);
    await send(s, [addr('in-grace')]);
    await waitFor(() => hitsAt(p).length === 1, 15000, 'the call in the grace');
    const inGrace = hitsAt(p)[0];
    expect(String(inGrace.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifyHit(inGrace, old)).toEqual(verifyHit(inGrace, fresh));
    expect(() => verifyHit(inGrace, rotated)).toThrow();
    // Once the grace is over (its end moved into the past here), the new key alone.
    await h.services
      .db('webhook_signing_keys')
      .where({ domain_id: s.domainId })
      .update({ previous_until: Date.now() - 1 });
    await send(s, [addr('after-grace')]);
    await waitFor(() => hitsAt(p).length === 2, 15000, 'the call after the grace');
    const after = hitsAt(p)[1];
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    verifyHit(after, fresh);
    expect(() => verifyHit(after, old)).toThrow();
  });

  it.concurrent('calls a delivered webhook for a message sent through /api/v1/email, signed per Standard Webhooks with the domain key', async () => {
    const s = await senderSetup(h);
    const p = path('delivered');
    const hookId = await addHook(s, 'delivery', p);
    const to = addr('reader');
    const messageId = await send(s, [to], { Tags: ['welcome', 'onboarding'] });

    await waitFor(() => hitsAt(p).length === 1, 15000, 'delivered webhook');
    const signing = await cmd('getwebhooks', s);
    const hit = hitsAt(p)[0];
    expect(hit.headers['content-type']).toBe('application/json');
    const body = verifyHit(hit, signing);
    expect(body).toEqual({
      id: hit.headers['webhook-id'],
      type: 'delivered',
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      data: {
        message_id: messageId,
        recipient: to,
        domain: s.domain,
        tags: ['welcome', 'onboarding'],
        metadata: {},
        smtp_reply: expect.stringMatching(/^250 /),
        tls: 'none', // the test relay offers no STARTTLS
        attempts: 1,
        seconds: expect.any(Number),
      },
    });
    expect(body.id).toMatch(/^evt_[0-9a-f]{32}$/);
    expect(Math.abs(Number(hit.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);

    // A tampered body or another domain's key does not verify.
    expect(() => new Webhook(signing.SigningKey, { format: 'raw' }).verify(hit.body.replace('delivered', 'bounced'), hit.headers)).toThrow();
    const other = await senderSetup(h);
    const otherKey = await cmd('getwebhooks', other);
    expect(() => new Webhook(otherKey.SigningSecret).verify(hit.body, hit.headers)).toThrow();

    await waitFor(async () => (await log(s, hookId)).length === 1, 15_000, 'attempt logged');
    const attempts = await log(s, hookId);
    expect(attempts[0]).toMatchObject({ EventID: body.id, Event: 'delivery', Attempt: 1, Result: 'delivered', StatusCode: 200, Error: null });
    const list = await cmd('getwebhooks', s);
    expect(list.Webhooks[0]).toMatchObject({ WebhookID: hookId, Status: 'Enabled', ConsecutiveFailures: 0, LastSuccessAt: expect.any(String) });
  });

  it.concurrent('delivers and calls the webhook from workers on a host with a 64-character name, whose lease owners fit their columns', async () => {
    expect(LONG_HOST).toHaveLength(64);
    const s = await senderSetup(h);
    const p = path('long-host');
    const hookId = await addHook(s, 'delivery', p);
    const messageId = await send(s, [addr('reader')]);
    await waitFor(() => hitsAt(p).length === 1, 15000, 'delivered webhook');
    const [delivery] = await h.services.db('deliveries').where({ message_id: messageId }).select('lease_owner');
    const [call] = await h.services.db('webhook_deliveries').where({ webhook_id: hookId }).select('lease_owner');
    for (const owner of [delivery.lease_owner, call.lease_owner]) {
      expect(owner.length).toBeLessThanOrEqual(64);
      expect(owner.startsWith(LONG_HOST.slice(0, 15))).toBe(true); // still tells an operator which machine it was
    }
  });

  it.concurrent('calls each domain’s delivered webhook for its own deliveries when the worker settles two domains’ deliveries together', async () => {
    const [a, b] = [await senderSetup(h), await senderSetup(h)];
    const [pa, pb] = [path('group-a'), path('group-b')];
    await addHook(a, 'delivery', pa);
    await addHook(b, 'delivery', pb);
    const toA = [addr('a1'), addr('a2'), addr('a3')];
    const toB = [addr('b1'), addr('b2'), addr('b3')];
    // Sent at once, so the settle groups (which read the subscriptions beside their UPDATE) mix both domains.
    await Promise.all([send(a, toA), send(b, toB)]);
    await waitFor(() => hitsAt(pa).length === 3 && hitsAt(pb).length === 3, 15000, 'delivered webhooks of both domains');
    const recipients = (p: string) =>
      hitsAt(p)
        .map((x) => (JSON.parse(x.body) as { data: { recipient: string } }).data.recipient)
        .sort();
    expect(recipients(pa)).toEqual([...toA].sort());
    expect(recipients(pb)).toEqual([...toB].sort());
  });

  it.concurrent('queues a delivered call for an account-wide webhook (no domain) of the sender, none for a disabled one or another account’s', async () => {
    const [s, other] = [await senderSetup(h), await senderSetup(h)];
    const now = Date.now();
    const hook = async (userId: number, status: string) => {
      const [id] = await h.services.db('webhooks').insert({
        user_id: userId,
        domain_id: null,
        event: 'delivered',
        url: rx.url(path('account-wide')),
        format: 'standard',
        secret_enc: encrypt('whsec_test', h.services.config.encryptionKey!),
        status,
        created_at: now,
        updated_at: now,
      });
      return Number(id);
    };
    const [wide, disabled, others] = [await hook(s.userId, 'Enabled'), await hook(s.userId, 'Disabled'), await hook(other.userId, 'Enabled')];
    const to = [addr('wide1'), addr('wide2')];
    await send(s, to);
    const queued = (id: number) => h.services.db('webhook_deliveries').where({ webhook_id: id, event_type: 'delivered' });
    await waitFor(async () => (await queued(wide)).length === 2, 15000, 'calls queued for the account-wide webhook');
    const recipients = (await queued(wide)).map((r: { payload: string }) => (JSON.parse(r.payload) as { data: { recipient: string } }).data.recipient).sort();
    expect(recipients).toEqual([...to].sort());
    expect(await queued(disabled)).toHaveLength(0);
    expect(await queued(others)).toHaveLength(0);
  });

  it.concurrent(
    'calls a bounced webhook (created through /api/v1/webhooks) with the SMTP reply and bounce class; delivered-only hooks stay silent',
    async () => {
      const s = await senderSetup(h);
      const pb = path('bounced');
      const pd = path('delivered-only');
      const res = await h.request('POST', '/api/v1/webhooks', {
        headers: { Authorization: `Bearer ${s.key}` },
        body: { Event: 'bounced', WebhookURL: rx.url(pb) },
      });
      expect(res.status).toBe(200);
      await addHook(s, 'delivered', pd);
      const to = addr('bounce');
      const messageId = await send(s, [to]);

      await waitFor(() => hitsAt(pb).length === 1, 15000, 'bounced webhook');
      const signing = await cmd('getwebhooks', s); // the key is shown to the account, not to a sender key
      const body = verifyHit(hitsAt(pb)[0], signing);
      expect(body.type).toBe('bounced');
      expect(body.data).toMatchObject({
        message_id: messageId,
        recipient: to,
        domain: s.domain,
        tags: [],
        bounce_class: 'hard',
        smtp_reply: expect.stringContaining('550'),
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(hitsAt(pd)).toHaveLength(0);
      // Only the subscribed event was queued: no rows for queued/delivered.
      const rows = await h.services
        .db('webhook_deliveries')
        .join('webhooks', 'webhooks.id', 'webhook_deliveries.webhook_id')
        .where('webhooks.domain_id', s.domainId)
        .select('event_type');
      expect(rows.map((r: { event_type: string }) => r.event_type)).toEqual(['bounced']);
    },
  );

  it('retries a call the receiver answers with 500 and delivers it when it answers 200; the log shows both attempts', async () => {
    const s = await senderSetup(h);
    const p = path('flaky');
    const hookId = await addHook(s, 'delivered', p);
    let calls = 0;
    const previous = rx.respond;
    rx.respond = (hit) => (hit.path === p ? (++calls === 1 ? 500 : 200) : previous(hit));
    try {
      await send(s, [addr('flaky')]);
      await waitFor(() => hitsAt(p).length === 2, 15000, 'retry');
    } finally {
      rx.respond = previous;
    }
    const signing = await cmd('getwebhooks', s);
    const [first, second] = hitsAt(p).map((x) => verifyHit(x, signing));
    expect(second.id).toBe(first.id); // the same event, retried
    expect(hitsAt(p)[1].headers['webhook-id']).toBe(hitsAt(p)[0].headers['webhook-id']);
    await waitFor(async () => (await log(s, hookId)).length === 2, 15_000, 'two attempts logged');
    const attempts = await log(s, hookId);
    expect(attempts.map((a: any) => [a.Attempt, a.Result, a.StatusCode])).toEqual([
      [1, 'failed', 500],
      [2, 'delivered', 200],
    ]);
    expect(attempts[0].Error).toBe('HTTP 500');
    const row = await h.services.db('webhook_deliveries').where({ webhook_id: hookId }).first();
    expect(row).toMatchObject({ status: 'delivered', last_status_code: 200 });
    expect(Number(row.attempts)).toBe(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(hitsAt(p)).toHaveLength(2); // nothing after the 200
  });

  it('keeps retrying while the receiver is down and delivers once it is back', async () => {
    const s = await senderSetup(h);
    const p = path('down');
    const hookId = await addHook(s, 'delivered', p);
    await rx.stop();
    try {
      await send(s, [addr('down')]);
      await waitFor(async () => (await log(s, hookId)).filter((a: any) => a.Result === 'failed').length >= 2, 15000, 'failed attempts while down');
    } finally {
      await rx.restart();
    }
    await waitFor(() => hitsAt(p).length === 1, 15000, 'delivery after restart');
    await waitFor(async () => (await log(s, hookId)).some((a: any) => a.Result === 'delivered'), 15_000, 'delivered logged');
    const attempts = await log(s, hookId);
    const failed = attempts.filter((a: any) => a.Result === 'failed');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const a of failed) expect(a).toMatchObject({ StatusCode: null, Error: 'the endpoint did not answer with 2xx' });
    expect(attempts[attempts.length - 1]).toMatchObject({ Result: 'delivered', StatusCode: 200 });
    verifyHit(hitsAt(p)[0], await cmd('getwebhooks', s));
    const hook = (await cmd('getwebhooks', s)).Webhooks[0];
    expect(hook).toMatchObject({ Status: 'Enabled', ConsecutiveFailures: 0 });
  });

  it('gives up on a receiver that does not answer within WEBHOOK_TIMEOUT_MS and logs the attempt as unanswered', async () => {
    const s = await senderSetup(h);
    const p = path('hung');
    const hookId = await addHook(s, 'delivered', p);
    const previous = rx.respond;
    rx.respond = (hit) => (hit.path === p ? null : previous(hit));
    h.services.config.webhooks.timeoutMs = 300;
    try {
      await send(s, [addr('hung')]);
      await waitFor(async () => (await log(s, hookId)).length >= 1, 15000, 'timed-out attempt');
    } finally {
      rx.respond = previous;
      h.services.config.webhooks.timeoutMs = 10_000;
    }
    const [a] = await log(s, hookId);
    expect(a).toMatchObject({ Result: 'failed', StatusCode: null, Error: 'the endpoint did not answer with 2xx' });
    expect(a.DurationMs).toBeGreaterThanOrEqual(250);
    await waitFor(async () => (await log(s, hookId)).some((x: any) => x.Result === 'delivered'), 15000, 'delivered on retry');
  });

  it('disables a webhook after WEBHOOK_MAX_FAILURES failed attempts in a row, shows it in getwebhooks, and re-adding it enables it again', async () => {
    const s = await senderSetup(h);
    const p = path('broken');
    const hookId = await addHook(s, 'delivery', p);
    const previous = rx.respond;
    rx.respond = (hit) => (hit.path === p ? 503 : previous(hit));
    h.services.config.webhooks.maxFailures = 3;
    try {
      await send(s, [addr('broken')]);
      await waitFor(async () => (await cmd('getwebhooks', s)).Webhooks[0].Status === 'Disabled', 15000, 'disabled');
      const hook = (await cmd('getwebhooks', s)).Webhooks[0];
      expect(hook).toMatchObject({
        WebhookID: hookId,
        Status: 'Disabled',
        ConsecutiveFailures: 3,
        DisabledReason: '3 consecutive failed attempts; last: HTTP 503',
        DisabledAt: expect.any(String),
      });
      const attempts = await log(s, hookId);
      expect(attempts.map((a: any) => a.Result)).toEqual(['failed', 'failed', 'failed', 'disabled']);
      expect(attempts[3].Error).toBe('webhook disabled after 3 consecutive failed attempts');
      expect(hitsAt(p)).toHaveLength(3);

      // A disabled webhook gets no new calls; its queued one is dropped.
      await send(s, [addr('broken-again')]);
      await waitFor(
        async () => (await h.services.db('webhook_deliveries').where({ webhook_id: hookId, status: 'pending' })).length === 0,
        15000,
        'queue drained',
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(hitsAt(p)).toHaveLength(3);
      const rows = await h.services.db('webhook_deliveries').where({ webhook_id: hookId });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ status: 'failed', last_error: 'webhook disabled' });
    } finally {
      rx.respond = previous;
      h.services.config.webhooks.maxFailures = 1000;
    }
    const again = await cmd('addwebhook', s, { Event: 'delivered', WebhookURL: rx.url(p) });
    expect(again.NewWebhookID).toBe(hookId);
    expect((await cmd('getwebhooks', s)).Webhooks).toEqual([
      expect.objectContaining({ WebhookID: hookId, Status: 'Enabled', ConsecutiveFailures: 0, DisabledReason: null }),
    ]);
    await send(s, [addr('back')]);
    await waitFor(() => hitsAt(p).length === 4, 15000, 'call after re-enabling');
  });

  it('gives a call up once it is older than WEBHOOK_MAX_AGE_SECONDS, with a last attempt at the deadline', async () => {
    const s = await senderSetup(h);
    const p = path('expiring');
    const hookId = await addHook(s, 'delivered', p);
    const previous = rx.respond;
    rx.respond = (hit) => (hit.path === p ? 500 : previous(hit));
    h.services.config.webhooks.maxAgeMs = 1000;
    try {
      await send(s, [addr('expiring')]);
      await waitFor(async () => (await h.services.db('webhook_deliveries').where({ webhook_id: hookId }).first())?.status === 'failed', 15000, 'given up');
    } finally {
      rx.respond = previous;
      h.services.config.webhooks.maxAgeMs = 86_400_000;
    }
    const row = await h.services.db('webhook_deliveries').where({ webhook_id: hookId }).first();
    expect(row).toMatchObject({ status: 'failed', last_status_code: 500, last_error: 'HTTP 500' });
    expect(Number(row.next_attempt_at) - Number(row.created_at)).toBeGreaterThanOrEqual(1000);
    const calls = hitsAt(p).length;
    expect(calls).toBeGreaterThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 500));
    expect(hitsAt(p)).toHaveLength(calls);
  });

  it('backs off exponentially with jitter, capped at 2 hours: about 19 attempts in the default 24 hours', () => {
    for (let i = 0; i < 50; i++) {
      const first = retryDelayMs(1, 10_000);
      expect(first).toBeGreaterThanOrEqual(7_500);
      expect(first).toBeLessThanOrEqual(12_500);
      const fifth = retryDelayMs(5, 10_000);
      expect(fifth).toBeGreaterThanOrEqual(120_000);
      expect(fifth).toBeLessThanOrEqual(200_000);
      expect(retryDelayMs(40, 10_000)).toBeLessThanOrEqual(2 * 3_600_000 * 1.25);
    }
    let t = 0;
    let attempts = 1;
    for (let wait = retryDelayMs(1, 10_000); t + wait < 86_400_000; wait = retryDelayMs(attempts, 10_000)) {
      t += wait;
      attempts += 1;
    }
    expect(attempts).toBeGreaterThanOrEqual(15);
    expect(attempts).toBeLessThanOrEqual(24);
  });

  it('never sends one queued call twice when two workers poll the same outbox', async () => {
    const s = await senderSetup(h);
    const p = path('two-workers');
    await addHook(s, 'delivered', p);
    await worker.stop();
    const extra: WebhookWorker[] = [];
    try {
      // 30 calls queue up while no worker runs; then two workers start at once and race for the same rows.
      const recipients = Array.from({ length: 30 }, (_, i) => addr(`many${i}`));
      await send(s, recipients);
      const pending = () =>
        h.services
          .db('webhook_deliveries')
          .join('webhooks', 'webhooks.id', 'webhook_deliveries.webhook_id')
          .where('webhooks.domain_id', s.domainId)
          .where('webhook_deliveries.status', 'pending');
      await waitFor(async () => (await pending()).length === 30, 20000, '30 queued calls');
      extra.push(startWebhookWorker(h.services), startWebhookWorker(h.services));
      await waitFor(() => hitsAt(p).length >= 30, 20000, '30 calls');
      await Promise.all(extra.map((w) => w.runOnce()));
      await new Promise((r) => setTimeout(r, 300));
      const ids = hitsAt(p).map((x) => x.headers['webhook-id']);
      expect(ids).toHaveLength(30);
      expect(new Set(ids).size).toBe(30);
      const owners = await h.services
        .db('webhook_deliveries')
        .join('webhooks', 'webhooks.id', 'webhook_deliveries.webhook_id')
        .where('webhooks.domain_id', s.domainId)
        .select('webhook_deliveries.status');
      expect(owners.every((r: { status: string }) => r.status === 'delivered')).toBe(true);
    } finally {
      await Promise.all(extra.map((w) => w.stop()));
      worker = startWebhookWorker(h.services);
    }
  });

  it('queues nothing, and asks the database nothing, for events no webhook can subscribe to', async () => {
    const s = await senderSetup(h);
    await addHook(s, 'delivered', path('quiet'));
    const queries: string[] = [];
    const spy = (q: { sql: string }) => queries.push(q.sql);
    h.services.db.on('query', spy);
    try {
      const base = {
        message_id: crypto.randomUUID(),
        delivery_id: null,
        domain_id: s.domainId,
        user_id: s.userId,
        created_at: Date.now(),
        data: { recipient: 'x@y.test' },
      };
      await queueWebhookEvents(
        h.services.db,
        ['queued', 'scheduled', 'deferred', 'suppressed', 'failed', 'cancelled'].map((type) => ({ ...base, type })),
      );
    } finally {
      h.services.db.removeListener('query', spy);
    }
    expect(queries).toEqual([]);
  });
});
