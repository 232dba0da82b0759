/**
 * What a tenant is told when a webhook URL is refused or its calls fail, through every door that shows it: never a
 * connection error (an address and port refused, a timeout) nor whether an internal name exists, which would let a
 * tenant probe hosts and names from the gateway's network. The detail goes to the server log, with the URL's host and
 * port only. Loopback only: the DNS server is in-process, the receivers listen on 127.0.0.1.
 */
import crypto from 'node:crypto';
import dns2 from 'dns2';
import { accountKey, senderSetup } from '../helpers/harness';
import { capturingLogger } from '../helpers/log-lines';
import { RelayRig, startRelayRig } from '../helpers/rig';
import { listen } from '../dialects/conformance';
import { startWebhookWorker, WebhookWorker } from '../../src/webhooks/worker';

const { Packet } = dns2;
/** A records the tests publish; NXDOMAIN for every other name. */
const zone = new Map<string, string[]>();
function handle(request: any, send: (response: any) => void): void {
  const response: any = Packet.createResponseFromRequest(request);
  const [q] = request.questions;
  const a = q ? zone.get(String(q.name).toLowerCase().replace(/\.$/, '')) : undefined;
  if (!q || !a) response.header.rcode = 3;
  else if (q.type === Packet.TYPE.A)
    for (const address of a) response.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 1, address });
  send(response);
}

let udp: ReturnType<typeof dns2.createUDPServer>;
let rig: RelayRig;
let worker: WebhookWorker;
let srv: Awaited<ReturnType<typeof listen>>;
const log = capturingLogger('warn');

beforeAll(async () => {
  udp = dns2.createUDPServer(handle as any);
  await udp.listen(0, '127.0.0.1');
  rig = await startRelayRig(
    { DNS_SERVERS: `127.0.0.1:${udp.address().port}`, DNS_TIMEOUT_MS: '1000', WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100' },
    { logger: log.logger },
  );
  worker = startWebhookWorker(rig.h.services);
  srv = await listen(rig.h.app);
});
afterAll(async () => {
  await worker.stop();
  await srv.close();
  await rig.close();
  await new Promise<void>((resolve) => udp.close(() => resolve()));
});

async function call(method: string, path: string, key: string | null, body?: unknown) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${srv.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
const api = (params: Record<string, unknown>) => call('POST', '/api.php', null, params).then((r) => r.body);
const label = (x: string) => `${x}-${crypto.randomBytes(4).toString('hex')}`;

it('answers a host name that does not resolve and one that resolves to an internal address alike, at every door', async () => {
  const s = await senderSetup(rig.h);
  const key = await accountKey(rig.h, s.sessionId);
  const names = { internal: `${label('db')}.example.test`, loopback: `${label('admin')}.example.test`, missing: `${label('typo')}.example.test` };
  zone.set(names.internal, ['10.0.0.8']);
  zone.set(names.loopback, ['127.0.0.1']);
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
