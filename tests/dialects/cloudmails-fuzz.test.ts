/**
 * The CloudMails routes under hostile input (fast-check, the command fuzzer's values): every field of /v1/send,
 * /v1/send/batch and /v1/webhooks left plausible, made hostile or left out. No answer may be a 5xx, and every
 * failure must be the spec's envelope {code, error, message} with code = the HTTP status.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import supertest from 'supertest';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { hostile, HUGE } from '../fuzz/values';

let h: Harness;
let key: string;
let domain: string;

beforeAll(async () => {
  h = await startHarness();
  const s = await senderSetup(h);
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: s.userId, Plan: 'Enterprise' });
  domain = s.domain;
  key = (await h.call({ Command: 'user.apikey.create', SessionID: s.sessionId, Note: 'fuzz', KeyType: 'account' })).APIKey.APIKey;
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

/** A field plausible, hostile or absent (undefined is dropped by JSON). */
const field = (plausible: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 2, arbitrary: hostile }, { weight: 1, arbitrary: fc.constant(undefined) });
const rcpt = fc.constantFrom('a@recipient.test', 'B <b@recipient.test>', 'c@recipient.test, d@recipient.test');
const message = () =>
  fc.record({
    to: field(fc.oneof(rcpt, fc.array(rcpt, { maxLength: 3 }))),
    from: field(fc.constantFrom(`app@${domain}`, `App <app@${domain}>`, 'app@elsewhere.test')),
    subject: field(fc.constantFrom('Hello {{name}}', 'Hi', '{{{ x }}}')),
    html: field(fc.constantFrom('<p>Hi {{name}}</p>', '<a href="https://shop.example/">x</a>')),
    text: field(fc.constantFrom('Hi {{ name|"there" }}', 'x')),
    reply_to: field(rcpt),
    cc: field(fc.array(rcpt, { maxLength: 2 })),
    bcc: field(fc.array(rcpt, { maxLength: 2 })),
    attachments: field(fc.constant([{ filename: 'a.txt', content: Buffer.from('hi').toString('base64'), type: 'text/plain' }])),
    custom_args: field(fc.dictionary(fc.constantFrom('name', 'order_id', '__proto__', 'x'.repeat(120)), hostile, { maxKeys: 3 })),
    headers: field(fc.constant({ 'X-Test': '1' })),
  });

const json = (body: unknown) => (JSON.stringify(body) ?? 'null').replaceAll(JSON.stringify(HUGE), '1e999');

function check(res: supertest.Response, what: string) {
  const where = `${what.slice(0, 300)} → ${res.status} ${res.text.slice(0, 300)}`;
  // Node's own answer to a request line over 16 KiB (a 70 kB id in the path): the app never sees it.
  if (res.status === 431) return;
  if (res.status >= 500) throw new Error(`5xx: ${where}`);
  if (res.status >= 400) {
    const b = res.body;
    if (!b || b.code !== res.status || typeof b.error !== 'string' || typeof b.message !== 'string' || Object.keys(b).length !== 3)
      throw new Error(`envelope: ${where}`);
  }
}

async function post(path: string, body: unknown, form = false) {
  const req = supertest(h.app).post(path).set('Authorization', `Bearer ${key}`);
  return form ? req.type('form').send(`data=${encodeURIComponent(json(body))}`) : req.set('Content-Type', 'application/json').send(json(body));
}

it('POST /v1/send never answers 5xx and always in the spec’s envelope', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 5, arbitrary: message() }, { weight: 1, arbitrary: hostile }), fc.boolean(), async (body, form) =>
      check(await post('/v1/send', body, form), `send ${json(body).slice(0, 300)}`),
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

it('POST /v1/send/batch never answers 5xx, and each refused message carries the envelope too', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            messages: fc.oneof({ weight: 4, arbitrary: fc.array(fc.oneof(message(), hostile), { maxLength: 4 }) }, { weight: 1, arbitrary: hostile }),
            from: field(fc.constant(`app@${domain}`)),
          }),
        },
        { weight: 1, arbitrary: hostile },
      ),
      async (body) => {
        const res = await post('/v1/send/batch', body);
        check(res, `batch ${json(body).slice(0, 300)}`);
        if (res.status === 200) {
          for (const r of res.body.results) {
            if (r.status === 'sent') continue;
            if (r.status !== 'failed' || typeof r.error?.code !== 'number' || r.error.code >= 500)
              throw new Error(`batch result: ${JSON.stringify(r)} for ${json(body).slice(0, 300)}`);
          }
        }
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

it('the webhook routes and the lookup never answer 5xx, whatever the url, events or ids', async () => {
  const url = fc.constantFrom('http://127.0.0.1:1/h', 'https://[::1]/h', 'http://169.254.169.254/latest', 'ftp://x.test/', '', 'not a url', null, 5);
  await fc.assert(
    fc.asyncProperty(
      field(url),
      field(fc.array(fc.constantFrom('delivered', 'opened', 'email.sent', 'ping'), { maxLength: 3 })),
      hostile,
      async (u, events, id) => {
        check(await post('/v1/webhooks', { url: u, events }), `webhook ${json({ u, events })}`);
        const path = encodeURIComponent(Buffer.from(typeof id === 'string' ? id : json(id)).toString('utf8')) || 'x';
        check(await supertest(h.app).delete(`/v1/webhooks/${path}`).set('Authorization', `Bearer ${key}`), `delete ${path}`);
        check(await supertest(h.app).get(`/v1/emails/${path}`).set('Authorization', `Bearer ${key}`), `lookup ${path}`);
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
  check(await supertest(h.app).get(`/v1/emails/${crypto.randomUUID()}`), 'no key');
  check(await supertest(h.app).get('/v1/emails/%E0%A4%zz').set('Authorization', `Bearer ${key}`), 'a malformed escape in the path');
  check(await supertest(h.app).delete('/v1/webhooks/%').set('Authorization', `Bearer ${key}`), 'a lone % in the path');
});
