/**
 * A live subscription created again with a ping (CloudMails' POST /v1/webhooks always pings; webhook.create with
 * Ping=1), through the HTTP doors on 127.0.0.1: while the ping runs and after it fails (a receiver redeploying), the
 * subscription stays Enabled with its old events and its calls are queued and reach the receiver once it is back;
 * a ping that answers 2xx applies the new events; of two re-creates at once, the one whose ping failed changes nothing.
 */
import crypto from 'node:crypto';
import { accountKey, senderSetup } from '../helpers/harness';
import { smtpError, waitFor } from '../helpers/sink';
import { startWebhookRig, WebhookRig } from '../helpers/webhook-rig';
import { Hit, Receiver, startReceiver } from './receiver';

const WEBHOOK_ENV = { WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_MAX_FAILURES: '1000' };

let rig: WebhookRig;
let rx: Receiver;

beforeAll(async () => {
  rx = await startReceiver();
  rig = await startWebhookRig(WEBHOOK_ENV);
  rig.sink.onRcpt = (a) => (a.startsWith('bounce') ? smtpError(550, `5.1.1 <${a}>: no such user here`) : undefined);
});
afterAll(async () => {
  await rig.close();
  await rx.stop();
});
/** Pings the receiver holds unanswered, and the requests waiting on them: a failing test's are answered and awaited. */
let held: ((status: number) => void)[] = [];
let inFlight: Promise<unknown>[] = [];
const hold = () => new Promise<number>((resolve) => held.push(resolve));
function started<T>(request: Promise<T>): Promise<T> {
  inFlight.push(request.catch(() => undefined));
  return request;
}
afterEach(async () => {
  rx.respond = () => 200;
  for (const answer of held) answer(500);
  await Promise.all(inFlight);
  held = [];
  inFlight = [];
});

const db = () => rig.h.services.db;
const hookPath = (label: string) => `/hook/${label}-${crypto.randomBytes(4).toString('hex')}`;
const rcpt = (label: string) => `${label}.${crypto.randomBytes(4).toString('hex')}@recipient.test`;
/** A call's event and message, in the CloudMails or the standard body. */
const parse = (hit: Hit): { event: string; messageId: string | null } => {
  const b = JSON.parse(hit.body);
  return { event: b.event ?? b.type, messageId: b.message_id ?? b.data?.message_id ?? null };
};
const isPing = (hit: Hit) => parse(hit).event === 'ping';
const pingsAt = (p: string) => rx.hits.filter((x) => x.path === p && isPing(x)).length;
const calledFor = (r: Receiver, p: string, messageId: string, event: string) =>
  r.hits.some((x) => x.path === p && parse(x).messageId === messageId && parse(x).event === event);

async function call(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${rig.srv.base}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** The legacy door on the same listener. */
async function api(params: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${rig.srv.base}/api.php`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(params) });
  return res.json();
}

async function account(): Promise<{ key: string; domain: string }> {
  const s = await senderSetup(rig.h);
  return { key: await accountKey(rig.h, s.sessionId), domain: s.domain };
}

/** Sends one message through CloudMails' /v1/send and waits until its delivery is settled (its events written). */
async function sendSettled(key: string, domain: string, to: string, status = 'delivered'): Promise<string> {
  const sent = await call(key, 'POST', '/v1/send', { to, from: `app@${domain}`, subject: 'Re-ping', html: '<p>x</p>' });
  if (sent.status !== 200) throw new Error(`send failed: ${sent.status} ${JSON.stringify(sent.body)}`);
  const id = sent.body.message_id as string;
  await waitFor(async () => !!(await db()('deliveries').where({ message_id: id, status }).first('id')), 15000, `${status} ${to}`);
  return id;
}

/** A live CloudMails webhook for `delivered` at a new path, with one delivered call seen. */
async function liveHook(key: string, domain: string, p: string) {
  const w = await call(key, 'POST', '/v1/webhooks', { url: rx.url(p), events: ['delivered'] });
  expect(w.body).toMatchObject({ active: true, events: ['delivered'], ping: { ok: true } });
  const first = await sendSettled(key, domain, rcpt('first'));
  await waitFor(() => calledFor(rx, p, first, 'delivered'), 15000, 'the first delivered call');
  return w.body as { id: string; secret: string };
}

const stored = (id: string) =>
  db()('webhooks')
    .where({ id: Number(id) })
    .first('status', 'event', 'disabled_reason');

describe('a live subscription created again with a ping', () => {
  it('stays Enabled with its events while the ping runs and after it fails; its calls arrive once the receiver is back', async () => {
    const { key, domain } = await account();
    const p = hookPath('redeploy');
    const w = await liveHook(key, domain, p);

    // The receiver redeploys: the ping is held, then refused; event calls meanwhile get 503.
    let down = true;
    rx.respond = (hit) => (hit.path !== p ? 200 : isPing(hit) ? hold() : down ? 503 : 200);
    const again = started(call(key, 'POST', '/v1/webhooks', { url: rx.url(p), events: ['delivered', 'bounced'] }));
    await waitFor(() => held.length === 1, 10000, 'the second ping');
    expect(await stored(w.id)).toEqual({ status: 'Enabled', event: 'delivered', disabled_reason: null });
    const during = await sendSettled(key, domain, rcpt('during'));
    held[0](500);
    const r = await again;
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: w.id,
      active: true,
      events: ['delivered'],
      disabled_reason: null,
      secret: w.secret,
      ping: { ok: false, status_code: 500, error: 'HTTP 500' },
    });
    expect(await stored(w.id)).toEqual({ status: 'Enabled', event: 'delivered', disabled_reason: null });

    const after = await sendSettled(key, domain, rcpt('after'));
    // Both calls are queued for the live subscription, and the receiver has refused at least the first.
    expect(await db()('webhook_deliveries').where({ webhook_id: Number(w.id) })).toHaveLength(3);
    await waitFor(() => rx.hits.some((x) => x.path === p && !isPing(x) && parse(x).messageId === during), 10000, 'a refused call');
    down = false;
    const back = rx.hits.length; // every call from here on is answered 200
    const answered = (id: string) => rx.hits.slice(back).some((x) => x.path === p && parse(x).messageId === id && parse(x).event === 'delivered');
    await waitFor(() => answered(during) && answered(after), 20000, 'the calls once the receiver is back');
    await waitFor(
      async () =>
        (
          await db()('webhook_deliveries')
            .where({ webhook_id: Number(w.id) })
            .whereNot('status', 'delivered')
        ).length === 0,
      20000,
      'every call delivered',
    );
    const listed = await call(key, 'GET', '/v1/webhooks');
    expect(listed.body.webhooks).toEqual([expect.objectContaining({ id: w.id, active: true, events: ['delivered'], disabled_reason: null })]);
  });

  it('applies the new events once the ping answers 2xx', async () => {
    const { key, domain } = await account();
    const p = hookPath('widen');
    const w = await liveHook(key, domain, p);
    const r = await call(key, 'POST', '/v1/webhooks', { url: rx.url(p), events: ['delivered', 'bounced'] });
    expect(r.body).toMatchObject({ id: w.id, active: true, events: ['delivered', 'bounced'], ping: { ok: true, status_code: 200 } });
    expect(await stored(w.id)).toEqual({ status: 'Enabled', event: 'delivered,bounced', disabled_reason: null });
    const bounced = await sendSettled(key, domain, rcpt('bounce'), 'bounced');
    await waitFor(() => calledFor(rx, p, bounced, 'bounced'), 15000, 'the bounced call');
  });

  it('through /api.php: a closed port changes nothing and the calls arrive when it listens again; without Ping the change applies at once', async () => {
    const { key, domain } = await account();
    const rx2 = await startReceiver();
    try {
      const p = hookPath('closed');
      const create = (params: Record<string, unknown>) => api({ Command: 'webhook.create', SenderAPIKey: key, URL: rx2.url(p), ...params });
      const sub = await create({ Events: 'delivered', Format: 'standard', Ping: 1 });
      expect(sub).toMatchObject({ Success: true, Status: 'Enabled', Ping: { OK: true } });

      await rx2.stop();
      const again = await create({ Events: 'delivered,bounced', Format: 'standard', Ping: 1 });
      expect(again).toMatchObject({
        Success: true,
        WebhookID: sub.WebhookID,
        Status: 'Enabled',
        Active: true,
        Events: ['delivered'],
        DisabledReason: null,
        Ping: { OK: false, StatusCode: null, Error: expect.any(String) },
      });
      const missed = await sendSettled(key, domain, rcpt('missed'));
      await rx2.restart();
      await waitFor(() => calledFor(rx2, p, missed, 'delivered'), 20000, 'the call once the port listens again');

      // Without Ping, as before: the new events at once, whatever the receiver says.
      rx2.respond = () => 500;
      const plain = await create({ Events: 'delivered,bounced', Format: 'standard' });
      expect(plain).toMatchObject({ Success: true, WebhookID: sub.WebhookID, Status: 'Enabled', Events: ['delivered', 'bounced'] });
      expect(plain.Ping).toBeUndefined();
    } finally {
      await rx2.stop();
    }
  });

  it('of two re-creates at once, the one whose ping failed leaves the other’s events in place', async () => {
    const { key, domain } = await account();
    const p = hookPath('race');
    const w = await liveHook(key, domain, p);
    rx.respond = (hit) => (hit.path === p && isPing(hit) ? hold() : 200);
    const pingsBefore = pingsAt(p);
    const widen = started(call(key, 'POST', '/v1/webhooks', { url: rx.url(p), events: ['delivered', 'bounced'] }));
    await waitFor(() => held.length === 1, 10000, 'the first ping');
    const narrow = started(call(key, 'POST', '/v1/webhooks', { url: rx.url(p), events: ['bounced'] }));
    await waitFor(() => held.length === 2, 10000, 'the second ping');
    expect(pingsAt(p)).toBe(pingsBefore + 2);
    held[1](503);
    expect((await narrow).body).toMatchObject({ active: true, events: ['delivered'], ping: { ok: false, status_code: 503 } });
    held[0](204);
    expect((await widen).body).toMatchObject({ active: true, events: ['delivered', 'bounced'], ping: { ok: true, status_code: 204 } });
    expect(await stored(w.id)).toEqual({ status: 'Enabled', event: 'delivered,bounced', disabled_reason: null });
  });
});
