/**
 * What one dialect request can make Postern spend before anything is sent. The key is checked before the body is
 * read (a caller without one costs no parse); a CloudMails batch's custom_args are held to the metadata limits before
 * they fill any {{placeholder}}, the filled text of a whole batch to twice the largest request, and a batch's
 * addresses in all are counted before any is parsed. A security review found a 100 KB request of placeholders
 * filling 500M characters (7 s and 425 MB before its 401; ten such messages ended the process out of memory), and a
 * 27 MB batch of address lists holding the event loop 23 s, both without a valid key.
 */
import supertest from 'supertest';
import { accountKey, createUser, Harness, senderSetup, startHarness } from '../helpers/harness';

let h: Harness;
let key: string;
let domain: string;
const bad = 'sk_live_' + 'x'.repeat(32);

beforeAll(async () => {
  // A 1 MiB request limit: the fill budget (twice that, in characters) is passed with a small request.
  h = await startHarness({ MAX_REQUEST_BYTES: String(1024 * 1024) });
  const s = await senderSetup(h);
  key = await accountKey(h, s.sessionId);
  domain = s.domain;
});
afterAll(async () => {
  await h.close();
});

const batch = (k: string) => supertest(h.app).post('/v1/send/batch').set('Authorization', `Bearer ${k}`);
const message = (extra: Record<string, unknown>) => ({ to: 'someone@example.com', from: `app@${domain}`, subject: 's', ...extra });

describe('without a valid key, nothing of the body is read', () => {
  it.each([
    ['CloudMails', '/v1/send/batch'],
    ['CloudMails', '/v1/send'],
    ['platform', '/api/v1/emails/batch'],
    ['CyberPanel', '/email/v1/send'],
  ])('%s POST %s with malformed JSON answers 401, not the JSON error', async (_d, path) => {
    const res = await supertest(h.app).post(path).set('Authorization', `Bearer ${bad}`).set('Content-Type', 'application/json').send('{"messages": [');
    expect(res.status).toBe(401);
    // With a valid key the same body is judged: the JSON error.
    const judged = await supertest(h.app).post(path).set('Authorization', `Bearer ${key}`).set('Content-Type', 'application/json').send('{"messages": [');
    expect(judged.status).toBe(400);
  });

  it('a batch of placeholders that would fill 500M characters answers 401 at once', async () => {
    const started = Date.now();
    const res = await batch(bad).send({ messages: [message({ html: '{{a}}'.repeat(10_000), custom_args: { a: 'x'.repeat(50_000) } })] });
    expect(res.status).toBe(401);
    // Filling it took 7 s; refused on the key alone it takes milliseconds (the bound is for a loaded machine).
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('with a valid key, a batch is bounded before it is filled or parsed', () => {
  it('refuses custom_args past the metadata limits before filling a placeholder with them', async () => {
    const res = await batch(key).send({ messages: [message({ html: '{{a}}'.repeat(10_000), custom_args: { a: 'x'.repeat(50_000) } })] });
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ index: 0, status: 'failed', error: { code: 400 } });
    expect(res.body.results[0].error.message).toMatch(/custom_args: Metadata value of "a" must be a string of at most 1000 characters/);
  });

  it('refuses a batch whose filled subjects and bodies would pass twice the request limit, naming it', async () => {
    // 2,200 placeholders of a 1,000-character value: 2.2M characters from an 11 KB body, past 2 × 1 MiB.
    const res = await batch(key).send({ messages: [message({ html: '{{a}}'.repeat(2_200), custom_args: { a: 'y'.repeat(1000) } })] });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/placeholders.*would pass 2097152 characters/);
    expect(await h.services.db('messages').count({ n: '*' }).first()).toMatchObject({ n: 0 });
  });

  it('fills a batch within the budget as before', async () => {
    const res = await batch(key).send({ messages: [message({ html: '<p>{{a}}</p>'.repeat(100), custom_args: { a: 'z'.repeat(1000) } })] });
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ index: 0, status: 'sent' });
  });

  it.each([
    ['CloudMails', '/v1/send/batch', 'messages', 60],
    ['platform', '/api/v1/emails/batch', 'emails', 60],
  ])('%s: a batch listing more than 50,000 addresses in all is refused before any is parsed', async (_d, path, field, n) => {
    const list = Array.from({ length: 999 }, (_, i) => `r${i}@ex.test`).join(',');
    const messages = Array.from({ length: n }, () => message({ to: list, html: 'x' }));
    const started = Date.now();
    const res = await supertest(h.app)
      .post(path)
      .set('Authorization', `Bearer ${key}`)
      .send({ [field]: messages });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/more than 50000 addresses in all/);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('a dialect request is authenticated once', () => {
  it("counts one use of the key per request (the key's row is written once, not by the check and again by the command)", async () => {
    const u = await createUser(h);
    const created = await h.call({ Command: 'user.apikey.create', SessionID: u.sessionId, Note: 'dialect' });
    const userKey = created.APIKey.APIKey as string;
    // An Octeth user key as the platform's Bearer: each use writes the key's row (RequestCount) at once.
    for (let i = 0; i < 3; i++) expect((await supertest(h.app).get('/api/v1/domains').set('Authorization', `Bearer ${userKey}`)).status).toBe(200);
    const listed = await h.call({ Command: 'user.apikey.list', SessionID: u.sessionId });
    expect(listed.APIKeys.find((k: { Note: string }) => k.Note === 'dialect')).toMatchObject({ RequestCount: 3 });
  });
});
