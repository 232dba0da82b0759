import supertest from 'supertest';
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
  const res = await supertest(h.app)
    .post('/api/v1/email')
    .set('Authorization', `Bearer ${s.key}`)
    .send({
      Subject: 'héllo',
      ContentType: 'plain',
      PlainContent: 'body',
      From: { name: '', email: `a@${s.domain}` },
      To: [{ name: '', email: 'b@dest.test' }],
    });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ MessageID: expect.any(String) });
  expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text, 'utf8'));
  expect(res.headers.etag).toBeUndefined();
  expect(res.headers['x-request-id']).toEqual(expect.any(String));
  const bad = await supertest(h.app).post('/api/v1/email').set('Authorization', 'Bearer nope').send({});
  expect(bad.body).toEqual({ Errors: [{ Code: 13, Message: 'Invalid SenderAPIKey' }] });
  expect(bad.headers['content-type']).toBe('application/json; charset=utf-8');
});

test('a GET reply keeps its ETag and answers 304 to a matching If-None-Match', async () => {
  const s = await senderSetup(h);
  const first = await supertest(h.app).get('/api/v1/suppressions').set('Authorization', `Bearer ${s.key}`);
  expect(first.status).toBe(200);
  expect(first.headers.etag).toEqual(expect.any(String));
  const again = await supertest(h.app).get('/api/v1/suppressions').set('Authorization', `Bearer ${s.key}`).set('If-None-Match', first.headers.etag);
  expect(again.status).toBe(304);
});
