/**
 * PHP's json_encode writes an empty array for an empty map, and the peer specs' examples are PHP clients: `[]` in a
 * map field (CyberPanel metadata and headers, CloudMails custom_args and headers, the platform's tags and headers)
 * is taken as no value, where each dialect answered 400 before. A non-empty array is still refused.
 */
import supertest from 'supertest';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let key: string;
let domain: string;
beforeAll(async () => {
  h = await startHarness();
  const s = await senderSetup(h);
  key = await accountKey(h, s.sessionId);
  domain = s.domain;
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

const post = (path: string, body: Record<string, unknown>) => supertest(h.app).post(path).set('Authorization', `Bearer ${key}`).send(body);
const mail = () => ({ from: `app@${domain}`, to: 'php@example.com', subject: 'From PHP', text: 'hi' });

it('CyberPanel: metadata [] and headers [] send as none', async () => {
  const r = await post('/email/v1/send', { ...mail(), metadata: [], headers: [] });
  expect(r.status).toBe(202);
  expect(r.body.success).toBe(true);
});

it('CloudMails: custom_args [] and headers [] send as none; a non-empty array is still refused', async () => {
  const r = await post('/v1/send', { ...mail(), custom_args: [], headers: [] });
  expect(r.status).toBe(200);
  expect(r.body.message_id).toEqual(expect.any(String));
  const bad = await post('/v1/send', { ...mail(), custom_args: ['a'] });
  expect(bad.status).toBe(400);
});

it('platform: tags [] and headers [] send as none', async () => {
  const r = await post('/api/v1/emails', { ...mail(), tags: [], headers: [] });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ status: 'sent' });
});
