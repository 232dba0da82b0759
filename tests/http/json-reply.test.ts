import { Harness, senderSetup, startHarness } from '../helpers/harness';

/**
 * The v1 door writes a state-changing route's JSON reply itself (src/http/json-reply.ts): the same body, status and
 * JSON headers as express's res.json, without an ETag; a GET still gets its ETag and answers a matching
 * If-None-Match with 304.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

test('a POST reply carries the JSON body with its Content-Type and exact Content-Length, and no ETag', async () => {
  const s = await senderSetup(h);
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: {
      Subject: 'héllo',
      ContentType: 'plain',
      PlainContent: 'body',
      From: { name: '', email: `a@${s.domain}` },
      To: [{ name: '', email: 'b@dest.test' }],
    },
  });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ MessageID: expect.any(String) });
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text, 'utf8'));
  expect(res.headers.etag).toBeUndefined();
  expect(res.headers['x-request-id']).toEqual(expect.any(String));
  const bad = await h.request('POST', '/api/v1/email', { headers: { Authorization: 'Bearer nope' }, body: {} });
  expect(bad.body).toEqual({ Errors: [{ Code: 13, Message: 'Invalid SenderAPIKey' }] });
  expect(bad.headers['content-type']).toBe('application/json; charset=utf-8');
});

test('a GET reply keeps its ETag and answers 304 to a matching If-None-Match', async () => {
  const s = await senderSetup(h);
  const first = await h.request('GET', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}` } });
  expect(first.status).toBe(200);
  expect(first.headers.etag).toEqual(expect.any(String));
  const again = await h.request('GET', '/api/v1/suppressions', { headers: { Authorization: `Bearer ${s.key}`, 'If-None-Match': first.headers.etag } });
  expect(again.status).toBe(304);
});
