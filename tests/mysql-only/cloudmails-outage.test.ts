/**
 * The CloudMails door while MariaDB is down (kill -9): 503 in CloudMails' envelope with Retry-After, quickly, on every
 * route; and service again once the database is back. Runs on a MariaDB of its own (tests/helpers/private-servers.ts).
 */
import crypto from 'node:crypto';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { PrivateServer, startMariaDb } from '../helpers/private-servers';
import { waitFor } from '../helpers/sink';

let mariadb: PrivateServer;
let h: Harness;
let key: string;
let domain: string;

beforeAll(async () => {
  mariadb = await startMariaDb();
  h = await startHarness({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: 'smtp://127.0.0.1:9' }, { mysqlRoot: mariadb.url });
  const s = await senderSetup(h);
  domain = s.domain;
  key = (await h.call({ Command: 'user.apikey.create', SessionID: s.sessionId, Note: 'outage', KeyType: 'account' })).APIKey.APIKey;
}, 60_000);

afterAll(async () => {
  await h?.services.queues.close();
  await h?.close();
  await mariadb?.destroy();
});

const message = (subject: string) => ({ to: 'someone@recipient.test', from: `app@${domain}`, subject, html: '<p>hello</p>' });

it('answers 503 {code, error, message} with Retry-After on every CloudMails route within 2 s while MariaDB is down, then sends again', async () => {
  const auth = (method: string, path: string, body?: unknown) => h.request(method, path, { headers: { Authorization: `Bearer ${key}` }, body });
  expect((await auth('POST', '/v1/send', message('before'))).status).toBe(200);
  await mariadb.kill();
  try {
    const calls = await Promise.all(
      [
        () => auth('POST', '/v1/send', message('during')),
        () => auth('POST', '/v1/send/batch', { messages: [message('during'), message('during')] }),
        () => auth('GET', `/v1/emails/${crypto.randomUUID()}`),
        () => auth('GET', '/v1/webhooks'),
      ].map(async (f) => {
        const t = Date.now();
        const r = await f();
        return { r, ms: Date.now() - t };
      }),
    );
    for (const { r, ms } of calls) {
      expect({ status: r.status, body: r.body }).toEqual({
        status: 503,
        body: { code: 503, error: 'Service Unavailable', message: expect.stringMatching(/temporarily unavailable/) },
      });
      expect(r.headers['retry-after']).toBe('5');
      expect(ms).toBeLessThan(2000);
    }
  } finally {
    await mariadb.start();
  }
  await waitFor(async () => (await h.request('GET', '/readyz')).status === 200, 20_000, 'readyz to answer 200');
  const after = await auth('POST', '/v1/send', message('after'));
  expect(after.status).toBe(200);
  expect(after.body).toEqual({ message_id: expect.any(String), status: 'sent' });
}, 60_000);
