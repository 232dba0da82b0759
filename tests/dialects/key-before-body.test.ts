/**
 * Every dialect checks the key before it judges the request: a refused key answers its 401 whatever the body holds,
 * so a caller without a valid key learns nothing of what a route takes; with a valid key the body's fault is named.
 */
import supertest from 'supertest';
import { accountKey, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let good: string;
const bad = 'sk_live_' + 'x'.repeat(32);

beforeAll(async () => {
  h = await startHarness();
  const s = await senderSetup(h);
  good = await accountKey(h, s.sessionId);
});
afterAll(async () => {
  await h.close();
});

/** A request each dialect refuses for its body (or its query) before it runs the command. */
const faulty: [string, (key: string) => supertest.Test][] = [
  [
    'platform POST /api/v1/webhooks without events',
    (key) => supertest(h.app).post('/api/v1/webhooks').set('Authorization', `Bearer ${key}`).send({ url: 'https://hooks.example/x' }),
  ],
  ['platform GET /api/v1/emails?status=nonsense', (key) => supertest(h.app).get('/api/v1/emails?status=nonsense').set('Authorization', `Bearer ${key}`)],
  [
    'CloudMails POST /v1/send/batch with no messages',
    (key) => supertest(h.app).post('/v1/send/batch').set('Authorization', `Bearer ${key}`).send({ messages: 'none' }),
  ],
  [
    'CloudMails POST /v1/webhooks without events',
    (key) => supertest(h.app).post('/v1/webhooks').set('Authorization', `Bearer ${key}`).send({ url: 'https://hooks.example/x' }),
  ],
  ['CyberPanel GET a repeated query parameter', (key) => supertest(h.app).get('/email/v1/account/stats?x=1&x=2').set('Authorization', `Bearer ${key}`)],
];

describe.each(faulty)('%s', (_name, request) => {
  it('answers 401 with a refused key, and names the fault with a valid one', async () => {
    const refused = await request(bad);
    expect(refused.status).toBe(401);
    expect(JSON.stringify(refused.body)).not.toMatch(/events|status must|messages must|given once/);
    const judged = await request(good);
    expect(judged.status).toBe(400);
  });
});
