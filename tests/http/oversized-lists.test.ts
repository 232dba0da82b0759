/**
 * Lists far past their caps are refused before anything walks them. A dialect's `to` of millions of comma-separated
 * entries was parsed (28 s, 2 GB for 28 MB) before the request's key was read; a send's To array past its cap was
 * still checked and named entry by entry (a 335 MB reply); ajv checked every item of a too-long Messages array.
 */
import { commands } from '../../commands';
import { Validator } from '../../src/validation';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
let account: string;
beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
  account = await accountKey(h, s.sessionId);
});
afterAll(async () => {
  await h.close();
});

const commas = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@dest.test`).join(',');

test.each([
  ['CloudMails', '/v1/send'],
  ['CyberPanel', '/email/v1/send'],
  ['the platform', '/api/v1/emails'],
])('%s refuses a to of more than 1000 addresses without parsing it, in its envelope (after the key: a made-up one is a 401)', async (_name, path) => {
  const made = await h.request('POST', path, {
    headers: { ...{ Authorization: 'Bearer sk_live_made_up' } },
    body: { from: `app@${s.domain}`, to: commas(1001), subject: 's', text: 't' },
  });
  expect(made.status).toBe(401);
  const headers = { Authorization: `Bearer ${account}` };
  const res = await h.request('POST', path, { headers: { ...headers }, body: { from: `app@${s.domain}`, to: commas(1001), subject: 's', text: 't' } });
  expect(res.status).toBe(400);
  expect(JSON.stringify(res.body)).toContain('to lists more than 1000 addresses');
  // The same count in an array, and in cc.
  const arr = await h.request('POST', path, {
    headers: { ...headers },
    body: { from: `app@${s.domain}`, to: 'a@dest.test', cc: commas(600).split(',').concat(commas(401)), subject: 's', text: 't' },
  });
  expect(arr.status).toBe(400);
  expect(JSON.stringify(arr.body)).toContain('cc lists more than 1000 addresses');
});

test('a dialect send within the count reaches the pipeline, whose own cap names it', async () => {
  const res = await h.request('POST', '/v1/send', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { from: `app@${s.domain}`, to: commas(1000), subject: 's', text: 't' },
  });
  expect(res.status).toBe(400);
  expect(JSON.stringify(res.body)).toMatch(/To has 1000 recipients; at most 50/i);
});

test('a To past its cap is refused once, without a problem per entry', async () => {
  const to = Array.from({ length: 5000 }, (_, i) => ({ name: '', email: `not-an-address-${i}` }));
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: 's', ContentType: 'plain', PlainContent: 't', From: { name: '', email: `app@${s.domain}` }, To: to },
  });
  const text = JSON.stringify(res.body);
  expect(text).toMatch(/To has 5000 recipients; at most 50 are allowed/);
  expect(text).not.toContain('not-an-address');
  expect(text.length).toBeLessThan(2000);
});

test('a Messages array past maxItems answers its code without ajv compiling or walking the schema', async () => {
  const v = new Validator(commands);
  const compiled: string[] = [];
  const ajv = (v as unknown as { ajv: { compile: (s: unknown) => unknown } }).ajv;
  const compile = ajv.compile.bind(ajv);
  ajv.compile = (schema: unknown) => {
    compiled.push(JSON.stringify(schema).slice(0, 40));
    return compile(schema);
  };
  const codes = v.check(commands['emailgateway.sendbatch'], { messages: new Array(200_000).fill(1) });
  expect(codes).toEqual([45]);
  expect(compiled).toEqual([]);
  // Within the limit the schema runs as before: an item that is no object answers the same code.
  expect(v.check(commands['emailgateway.sendbatch'], { messages: [1] })).toEqual([45]);
  expect(compiled).toHaveLength(1);
  // Through the door: the same answer.
  const res = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: { Messages: new Array(5000).fill(1) } });
  expect(JSON.stringify(res.body)).toContain('45');
});

test('a body nested past 64 levels answers 400 in its envelope, not a 500 from the code that reads it', async () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const body = `{"Subject":"s","ContentType":"plain","PlainContent":"t","From":{"email":"app@${s.domain}"},"To":[{"email":"a@dest.test"}],"Extra":${deep(200_000)}}`;
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}`, 'Idempotency-Key': 'deep-1', 'Content-Type': 'application/json' },
    body,
  });
  expect(res.status).toBe(400);
  expect(JSON.stringify(res.body)).toContain('nests objects and arrays more than 64 deep');
  // 64 levels are read as before.
  const ok = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}`, 'Idempotency-Key': 'deep-2', 'Content-Type': 'application/json' },
    body: body.replace(deep(200_000), deep(62)),
  });
  expect(ok.body.MessageID).toEqual(expect.any(String));
  // A form value that reads as JSON nested that deep stays text: the command refuses it as it refuses any bad To.
  const form = await h.request('POST', '/api.php', {
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `Command=emailgateway.sendemail&SenderAPIKey=${s.key}&Subject=s&ContentType=plain&PlainContent=t&From=${encodeURIComponent(`{"email":"app@${s.domain}"}`)}&To=${deep(100_000)}`,
  });
  expect(form.status).toBe(200);
  expect(form.body.Success).toBe(false);
});
