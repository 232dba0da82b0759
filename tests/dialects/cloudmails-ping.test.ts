/**
 * CloudMails' webhook test ping (POST /v1/webhooks) tells the tenant the outcome only: "the endpoint did not answer
 * with 2xx" or "address not allowed", never a connection error naming an address and port or what a name resolved
 * to (a tenant could probe hosts from the gateway's network with it). The reason goes to the server log, without the
 * URL's path or query. The SSRF guard applies to the ping itself (a name vetted at create and resolving elsewhere at
 * the ping), and in production (no WEBHOOK_ALLOW_PRIVATE) to loopback. Loopback only: the DNS server is in-process.
 */
import crypto from 'node:crypto';
import { DnsZone, startDnsZone } from '../helpers/dns-zone';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';
import { capturingLogger } from '../helpers/log-lines';
import { freePort } from '../helpers/ports';
import { Receiver, startReceiver } from '../webhooks/receiver';
import { callFailureLog } from '../../src/webhooks/failure-log';
import { listen } from './conformance';

/** A records the tests publish (a name's answers in turn where it resolves elsewhere at the ping); NXDOMAIN for the rest. */
let dns: DnsZone;
let h: Harness;
let rx: Receiver;
let srv: Awaited<ReturnType<typeof listen>>;
let key: string;
const log = capturingLogger('warn');

beforeAll(async () => {
  dns = await startDnsZone({ ttl: 1 });
  rx = await startReceiver();
  h = await startHarness({ DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000', WEBHOOK_ALLOW_PRIVATE: '1' }, { logger: log.logger });
  const s = await senderSetup(h);
  key = await accountKey(h, s.sessionId);
  srv = await listen(h.app);
});
afterAll(async () => {
  await srv.close();
  await h.close();
  await rx.stop();
  await dns.close();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${srv.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const pingLines = () => log.lines.filter((l) => l.includes('webhook test ping failed')).map((l) => JSON.parse(l));
const label = (x: string) => `${x}-${crypto.randomBytes(4).toString('hex')}`;

it('answers a refused connection with "the endpoint did not answer with 2xx" only; the log has the reason, not the path or query', async () => {
  const port = await freePort();
  const before = pingLines().length;
  const w = await call('POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}/hook?token=tok_${label('q')}`, events: ['delivered'] });
  expect(w.status).toBe(200);
  expect(w.body).toMatchObject({
    active: false,
    disabled_reason: 'test ping failed: the endpoint did not answer with 2xx',
    ping: { ok: false, status_code: null, error: 'the endpoint did not answer with 2xx' },
  });
  const listed = (await call('GET', '/v1/webhooks')).body.webhooks.find((x: { id: string }) => x.id === w.body.id);
  expect(listed.disabled_reason).toBe('test ping failed: the endpoint did not answer with 2xx');
  const lines = pingLines().slice(before);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ webhookId: Number(w.body.id), host: '127.0.0.1', port: String(port), reason: expect.stringContaining('ECONNREFUSED') });
  expect(JSON.stringify(lines[0])).not.toMatch(/\/hook|tok_/);
  expect((await call('DELETE', `/v1/webhooks/${w.body.id}`)).status).toBe(200);
});

it('refuses at the ping a name that resolves elsewhere than when it was checked, as "address not allowed", and calls nothing', async () => {
  const host = `${label('rebind')}.example.test`;
  const p = `/${label('rebind')}`;
  // Checked at create: the receiver on loopback (allowed here). At the ping: the cloud metadata address, never allowed.
  dns.zone.set(host, { aTurns: [['127.0.0.1'], ['169.254.169.254']] });
  const before = pingLines().length;
  const w = await call('POST', '/v1/webhooks', { url: `http://${host}:${rx.port}${p}`, events: ['delivered'] });
  expect(w.status).toBe(200);
  expect(w.body).toMatchObject({
    active: false,
    disabled_reason: 'test ping failed: address not allowed',
    ping: { ok: false, status_code: null, error: 'address not allowed' },
  });
  expect(rx.hits.filter((x) => x.path === p)).toHaveLength(0);
  // The log has what the name resolved to, which the tenant is not told.
  expect(pingLines().slice(before)).toEqual([expect.objectContaining({ host, reason: 'refused: 169.254.169.254 is a cloud metadata address' })]);
  expect((await call('DELETE', `/v1/webhooks/${w.body.id}`)).status).toBe(200);
});

it('refuses loopback, by address or by name, in production (private addresses not allowed), before any call', async () => {
  const host = `${label('inside')}.example.test`;
  dns.zone.set(host, { a: ['127.0.0.1'] });
  const p = `/${label('prod')}`;
  h.services.config.webhooks.allowPrivate = false;
  try {
    for (const url of [`http://127.0.0.1:${rx.port}${p}`, `http://${host}:${rx.port}${p}`]) {
      expect(await call('POST', '/v1/webhooks', { url })).toEqual({
        status: 400,
        body: { code: 400, error: 'Invalid Request', message: expect.stringContaining('not allowed') },
      });
    }
  } finally {
    h.services.config.webhooks.allowPrivate = true;
  }
  expect(rx.hits.filter((x) => x.path === p)).toHaveLength(0);
});

it('logs a failing test ping once per interval per webhook, counting the pings it left out; another webhook is logged on its own', async () => {
  // The process's throttle with a 1 s interval (60 s in production), as the worker's is in tests/webhooks/call-failure-log.
  const throttle = h.services.pingFailures;
  h.services.pingFailures = callFailureLog(log.logger, 1000, 'webhook test ping failed');
  try {
    const port = await freePort();
    const dead = `http://127.0.0.1:${port}/${label('again')}`;
    const linesOf = (id: string) => pingLines().filter((l) => l.webhookId === Number(id));
    // The same URL again is the same subscription, pinged again each time ("test" clicked three times).
    const first = await call('POST', '/v1/webhooks', { url: dead, events: ['delivered'] });
    for (let i = 0; i < 2; i += 1)
      expect((await call('POST', '/v1/webhooks', { url: dead, events: ['delivered'] })).body).toMatchObject({ id: first.body.id, ping: { ok: false } });
    expect(linesOf(first.body.id)).toEqual([expect.not.objectContaining({ suppressed: expect.anything() })]);
    const other = await call('POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}/${label('other')}`, events: ['delivered'] });
    expect(other.body.id).not.toBe(first.body.id);
    expect(linesOf(other.body.id)).toHaveLength(1);

    await new Promise((r) => setTimeout(r, 1100));
    await call('POST', '/v1/webhooks', { url: dead, events: ['delivered'] });
    expect(linesOf(first.body.id)).toHaveLength(2);
    expect(linesOf(first.body.id)[1]).toMatchObject({ suppressed: 2, host: '127.0.0.1', reason: expect.stringContaining('ECONNREFUSED') });
    for (const id of [first.body.id, other.body.id]) expect((await call('DELETE', `/v1/webhooks/${id}`)).status).toBe(200);
  } finally {
    h.services.pingFailures = throttle;
  }
});
