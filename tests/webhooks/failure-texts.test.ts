/**
 * What a tenant is told when a webhook URL is refused or its calls fail, through every door that shows it: never a
 * connection error (an address and port refused, a timeout) nor whether an internal name exists, which would let a
 * tenant probe hosts and names from the gateway's network. The detail goes to the server log, with the URL's host and
 * port only. Loopback only: the DNS server is in-process, the receivers listen on 127.0.0.1.
 */
import crypto from 'node:crypto';
import { DnsZone, startDnsZone } from '../helpers/dns-zone';
import { accountKey, senderSetup } from '../helpers/harness';
import { capturingLogger } from '../helpers/log-lines';
import { waitFor } from '../helpers/sink';
import { startWebhookRig, WebhookRig } from '../helpers/webhook-rig';
import { startReceiver } from './receiver';

/** A records the tests publish; NXDOMAIN for every other name. */
let dns: DnsZone;
let rig: WebhookRig;
const log = capturingLogger('warn');

beforeAll(async () => {
  dns = await startDnsZone({ ttl: 1 });
  rig = await startWebhookRig(
    { DNS_SERVERS: `127.0.0.1:${dns.port}`, DNS_TIMEOUT_MS: '1000', WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100' },
    { logger: log.logger },
  );
});
afterAll(async () => {
  await rig.close();
  await dns.close();
});

async function call(method: string, path: string, key: string | null, body?: unknown) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${rig.srv.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
const api = (params: Record<string, unknown>) => call('POST', '/api.php', null, params).then((r) => r.body);
const label = (x: string) => `${x}-${crypto.randomBytes(4).toString('hex')}`;
/** One message from the sender's domain: its events are what the webhooks are called for. */
const sendOne = (s: { key: string; domain: string }) =>
  call('POST', '/api/v1/email', s.key, {
    Subject: 'Hooks',
    ContentType: 'plain',
    PlainContent: 'Hi',
    From: { name: '', email: `app@${s.domain}` },
    To: [{ name: '', email: `${label('r')}@recipient.test` }],
  });
const lines = (message: string) => log.lines.map((l) => JSON.parse(l)).filter((l) => l.message === message);

it('answers a host name that does not resolve and one that resolves to an internal address alike, at every door', async () => {
  const s = await senderSetup(rig.h);
  const key = await accountKey(rig.h, s.sessionId);
  const names = { internal: `${label('db')}.example.test`, loopback: `${label('admin')}.example.test`, missing: `${label('typo')}.example.test` };
  dns.zone.set(names.internal, { a: ['10.0.0.8'] });
  dns.zone.set(names.loopback, { a: ['127.0.0.1'] });
  const doors: [string, (url: string) => Promise<unknown>][] = [
    [
      'emailgateway.addwebhook',
      (url) => api({ Command: 'emailgateway.addwebhook', SessionID: s.sessionId, DomainID: s.domainId, Event: 'delivery', WebhookURL: url }),
    ],
    ['Octeth POST /api/v1/webhooks', (url) => call('POST', '/api/v1/webhooks', s.key, { Event: 'delivered', WebhookURL: url })],
    ['platform POST /api/v1/webhooks', (url) => call('POST', '/api/v1/webhooks', key, { url, events: ['email.sent'] })],
    ['CloudMails POST /v1/webhooks', (url) => call('POST', '/v1/webhooks', key, { url, events: ['delivered'] })],
    ['webhook.create', (url) => api({ Command: 'webhook.create', SenderAPIKey: key, URL: url, Events: 'delivered' })],
  ];
  const guard = rig.h.services.config.webhooks;
  guard.allowPrivate = false; // production: private addresses refused
  try {
    for (const [door, create] of doors) {
      const answers: Record<string, string> = {};
      for (const [kind, host] of Object.entries(names))
        answers[kind] = JSON.stringify(await create(`https://${host}/hook`))
          .split(host)
          .join('HOST');
      expect({ door, internal: answers.internal, loopback: answers.loopback }).toEqual({ door, internal: answers.missing, loopback: answers.missing });
      // A name that really has no public record still hears what to fix.
      expect({ door, answer: answers.missing }).toEqual({
        door,
        answer: expect.stringContaining('HOST does not resolve to a public address (it needs a public DNS A or AAAA record)'),
      });
    }
  } finally {
    guard.allowPrivate = true;
  }
  expect(await rig.h.services.db('webhooks').where({ user_id: s.userId })).toEqual([]);
});

it('logs each URL refused at create once, with the account, domain, host and port and why, never its path or query', async () => {
  const s = await senderSetup(rig.h);
  const key = await accountKey(rig.h, s.sessionId);
  const internal = `${label('db')}.example.test`;
  const missing = `${label('typo')}.example.test`;
  dns.zone.set(internal, { a: ['10.0.0.8'] });
  const secret = `/in/${label('p')}?token=tok_${label('q')}`;
  const before = log.lines.length;
  const guard = rig.h.services.config.webhooks;
  guard.allowPrivate = false;
  try {
    const legacy = await api({
      Command: 'emailgateway.addwebhook',
      SessionID: s.sessionId,
      DomainID: s.domainId,
      Event: 'delivery',
      WebhookURL: `https://${internal}:8443${secret}`,
    });
    const platform = await call('POST', '/api/v1/webhooks', key, { url: `http://${missing}${secret}`, events: ['email.sent'] });
    const create = await api({ Command: 'webhook.create', SenderAPIKey: key, URL: `https://${internal}${secret}`, Events: 'delivered', DomainID: s.domainId });
    expect([legacy.Success, platform.status, create.Success]).toEqual([false, 400, false]);
  } finally {
    guard.allowPrivate = true;
  }
  const refused = log.lines
    .slice(before)
    .map((l) => JSON.parse(l))
    .filter((l) => l.message === 'webhook URL refused');
  expect(refused).toEqual([
    expect.objectContaining({ level: 'warn', userId: s.userId, domainId: s.domainId, host: internal, port: '8443', reason: '10.0.0.8 is a private address' }),
    expect.objectContaining({ level: 'warn', userId: s.userId, host: missing, port: '80', reason: expect.stringMatching(/^does not resolve \(/) }),
    expect.objectContaining({ level: 'warn', userId: s.userId, host: internal, port: '443', reason: '10.0.0.8 is a private address' }),
  ]);
  expect(log.lines.slice(before).join('\n')).not.toMatch(/\/in\/|tok_/);
});

it("shows a disabled webhook's reason and its failed calls as an outcome only; the connection error is in the log, without the URL's path or query", async () => {
  const s = await senderSetup(rig.h);
  const key = await accountKey(rig.h, s.sessionId);
  const gone = await startReceiver();
  const secretPath = `/in/${label('p')}?token=tok_${label('q')}`;
  const url = gone.url(secretPath);
  // Each door's own webhook to the same endpoint, which answers CloudMails' test ping and then goes away.
  const octeth = await api({ Command: 'emailgateway.addwebhook', SessionID: s.sessionId, DomainID: s.domainId, Event: 'delivery', WebhookURL: url });
  const cloudmails = await call('POST', '/v1/webhooks', key, { url, events: ['delivered'] });
  const platform = await call('POST', '/api/v1/webhooks', key, { url, events: ['email.sent'] });
  expect([octeth.Success, cloudmails.body.active, platform.status]).toEqual([true, true, 200]);
  await gone.stop(); // nothing listens on the port now: every call is refused
  const ids = [octeth.NewWebhookID, Number(cloudmails.body.id), Number(platform.body.id)];
  const before = log.lines.length;
  rig.h.services.config.webhooks.maxFailures = 2;
  try {
    const sent = await sendOne(s);
    expect(sent.status).toBe(200);
    await waitFor(async () => (await rig.h.services.db('webhooks').whereIn('id', ids).where({ status: 'Disabled' })).length === 3, 20_000, 'disabled');
  } finally {
    rig.h.services.config.webhooks.maxFailures = 1000;
  }
  const reason = '2 consecutive failed attempts; last: the endpoint did not answer with 2xx';

  const shown = {
    cloudmails: await call('GET', '/v1/webhooks', key),
    platform: await call('GET', '/api/v1/webhooks', key),
    list: await api({ Command: 'webhook.list', SenderAPIKey: key }),
    octeth: await api({ Command: 'emailgateway.getwebhooks', SessionID: s.sessionId, DomainID: s.domainId }),
    octethV1: await call('GET', '/api/v1/webhooks', s.key),
    octethLog: await api({ Command: 'emailgateway.getwebhooklog', SessionID: s.sessionId, DomainID: s.domainId, WebhookID: octeth.NewWebhookID }),
  };
  expect(shown.cloudmails.body.webhooks.find((w: any) => w.id === cloudmails.body.id)).toMatchObject({ active: false, disabled_reason: reason });
  expect(shown.platform.body.webhooks.find((w: any) => w.id === platform.body.id)).toMatchObject({ isActive: false });
  expect(shown.list.Webhooks.filter((w: any) => ids.includes(w.WebhookID)).map((w: any) => w.DisabledReason)).toEqual([reason, reason]);
  expect(shown.octeth.Webhooks).toEqual([expect.objectContaining({ WebhookID: octeth.NewWebhookID, Status: 'Disabled', DisabledReason: reason })]);
  expect(shown.octethV1.body.Webhooks).toEqual([expect.objectContaining({ WebhookID: octeth.NewWebhookID, DisabledReason: reason })]);
  // The log keeps its fields; a call with no HTTP answer says so, and when and how long it took.
  expect(shown.octethLog.Attempts.map((a: any) => [a.Result, a.StatusCode, a.Error])).toEqual([
    ['disabled', null, 'webhook disabled after 2 consecutive failed attempts'],
    ['failed', null, 'the endpoint did not answer with 2xx'],
    ['failed', null, 'the endpoint did not answer with 2xx'],
  ]);
  expect(shown.octethLog.Attempts[1]).toEqual(
    expect.objectContaining({ AttemptID: expect.any(Number), At: expect.any(String), DurationMs: expect.any(Number) }),
  );
  expect(JSON.stringify(shown)).not.toMatch(/ECONNREFUSED|connect /);

  // The server log has the reason of each webhook's first failed call (the second, within the minute, is counted for
  // its next line: tests/webhooks/call-failure-log.test.ts), and of each disable, with the host and port only.
  const failed = lines('webhook call failed').filter((l) => ids.includes(l.webhookId));
  expect(failed.map((l) => l.webhookId).sort()).toEqual([...ids].sort());
  for (const l of failed) expect(l).toMatchObject({ host: '127.0.0.1', port: String(gone.port), reason: expect.stringContaining('ECONNREFUSED') });
  // Logged just after the disable's transaction commits: the Disabled status waited for above can be read first.
  const disabledLines = () => lines('webhook.disabled').filter((l) => ids.includes(l.webhookId));
  await waitFor(() => disabledLines().length >= ids.length, 10_000, 'the disables logged');
  const disabled = disabledLines();
  expect(disabled.map((l) => l.webhookId).sort()).toEqual([...ids].sort());
  for (const l of disabled) expect(l).toMatchObject({ host: '127.0.0.1', port: String(gone.port), lastError: expect.stringContaining('ECONNREFUSED') });
  expect(log.lines.slice(before).join('\n')).not.toMatch(/\/in\/|tok_/);
}, 40_000);

it("shows a call refused at delivery (its name now resolves to the metadata address) as 'address not allowed'; the log says why", async () => {
  const s = await senderSetup(rig.h);
  const rx = await startReceiver();
  const host = `${label('rebind')}.example.test`;
  dns.zone.set(host, { a: ['127.0.0.1'] });
  const hook = await api({
    Command: 'emailgateway.addwebhook',
    SessionID: s.sessionId,
    DomainID: s.domainId,
    Event: 'delivery',
    WebhookURL: `http://${host}:${rx.port}/r`,
  });
  expect(hook.Success).toBe(true);
  dns.zone.set(host, { a: ['169.254.169.254'] });
  const sent = await sendOne(s);
  expect(sent.status).toBe(200);
  const attempts = async () =>
    (await api({ Command: 'emailgateway.getwebhooklog', SessionID: s.sessionId, DomainID: s.domainId, WebhookID: hook.NewWebhookID })).Attempts;
  await waitFor(async () => (await attempts()).length >= 1, 15_000, 'refused attempt');
  expect((await attempts())[0]).toMatchObject({ Result: 'refused', StatusCode: null, Error: 'address not allowed' });
  expect(rx.hits).toEqual([]);
  expect(lines('webhook call failed').find((l) => l.webhookId === hook.NewWebhookID)).toMatchObject({
    host,
    port: String(rx.port),
    reason: 'refused: 169.254.169.254 is a cloud metadata address',
  });
  // Rebound again before the retry: a refused call is a probe's trace, so each is logged (the per-webhook throttle of
  // 'webhook call failed' is for endpoints that do not answer) and says where this one pointed.
  dns.zone.set(host, { a: ['100.100.100.200'] });
  const reasons = () =>
    lines('webhook call failed')
      .filter((l) => l.webhookId === hook.NewWebhookID)
      .map((l) => l.reason);
  await waitFor(() => reasons().includes('refused: 100.100.100.200 is a cloud metadata address'), 15_000, 'the rebound call logged');
  expect(reasons()[0]).toBe('refused: 169.254.169.254 is a cloud metadata address');
  await api({ Command: 'emailgateway.deletewebhook', SessionID: s.sessionId, DomainID: s.domainId, WebhookID: hook.NewWebhookID });
  await rx.stop();
});
