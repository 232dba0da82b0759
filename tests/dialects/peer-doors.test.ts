/**
 * The CloudMails (/v1) and CyberPanel (/email/v1) doors at their edges, through HTTP: a field of the wrong JSON type is
 * named as such, CyberPanel's send reply keeps the spec's types, and a batch message the store could not write
 * says so in a status a client retries.
 */
import supertest from 'supertest';
import { accountKey, addDomain, Harness, senderSetup, startHarness, uniqueDomain } from '../helpers/harness';
import { refuseWith } from '../helpers/refusing-trigger';

let h: Harness;
let s: Awaited<ReturnType<typeof senderSetup>>;
let key: string;

beforeAll(async () => {
  h = await startHarness();
  s = await senderSetup(h);
  key = await accountKey(h, s.sessionId);
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

const post = (path: string, body: unknown) =>
  supertest(h.app)
    .post(path)
    .set('Authorization', `Bearer ${key}`)
    .send(body as object);
const mail = () => ({ to: 'ann@recipient.test', from: `app@${s.domain}`, subject: 'Hi', html: '<p>Hi</p>' });

describe('a field of the wrong JSON type', () => {
  it.each([
    ['subject', ['Hi']],
    ['subject', 5],
    ['html', { p: 'Hi' }],
    ['text', true],
  ])('answers 400 naming %s as not a string (%j), on both doors', async (field, value) => {
    const cm = await post('/v1/send', { ...mail(), [field]: value });
    expect(cm.status).toBe(400);
    expect(cm.body).toEqual({ code: 400, error: 'Invalid Request', message: `${field} must be a string` });
    const cp = await post('/email/v1/send', { ...mail(), [field]: value });
    expect(cp.status).toBe(400);
    expect(cp.body).toEqual({ success: false, error: { code: 'invalid_request', message: `${field} must be a string` } });
  });

  it('still takes text: null beside html, as the spec’s PHP example sends it', async () => {
    const r = await post('/v1/send', { ...mail(), text: null });
    expect(r.status).toBe(200);
  });
});

describe('CyberPanel send reply', () => {
  it.each([
    ['an array of one address', (f: string) => [f], (f: string) => f],
    ['an {email, name} object', (f: string) => ({ email: f, name: 'App' }), (f: string) => `App <${f}>`],
  ])('echoes from given as %s as the spec’s string', async (_label, given, shown) => {
    const from = `app@${s.domain}`;
    const r = await post('/email/v1/send', { ...mail(), from: given(from) });
    expect(r.status).toBe(202);
    expect(r.body.data.from).toBe(shown(from));
  });
});

describe('CloudMails batch', () => {
  it.each([null, ''])('sends a message whose from is %j from the batch’s own from, as one without from', async (none) => {
    // Without the batch's from it would leave as noreply@ the account's first domain (sendbatch's DefaultFrom).
    const shared = `news@${s.domain}`;
    const r = await post('/v1/send/batch', { from: shared, messages: [{ ...mail(), from: none }] });
    expect(r.status).toBe(200);
    expect(r.body.results[0]).toEqual({ index: 0, message_id: expect.any(String), status: 'sent' });
    const got = await supertest(h.app).get(`/email/v1/messages/${r.body.results[0].message_id}`).set('Authorization', `Bearer ${key}`);
    expect(got.body.data.from).toBe(shared);
  });

  it('counts the batch’s from toward the 50,000 addresses for each message it is copied into, a from of null among them', async () => {
    const crowd = Array.from({ length: 999 }, (_, i) => `r${i}@ex.test`).join(',');
    const messages = Array.from({ length: 60 }, () => ({ ...mail(), from: null }));
    const r = await post('/v1/send/batch', { from: crowd, messages });
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/more than 50000 addresses in all/);
  });

  it('answers a message the store stopped answering for as 503 Service Unavailable, not 400, beside the ones written', async () => {
    const second = uniqueDomain('send');
    const secondId = await addDomain(h, s.sessionId, second);
    await h.services.db('sender_domains').where({ id: secondId }).update({ status: 'Enabled' });
    await refuseWith(h.services.db, 'refuse_peer_second', { table: 'messages', op: 'INSERT', when: `NEW.domain_id = ${secondId}`, fault: 'outage' });
    try {
      const r = await post('/v1/send/batch', { messages: [mail(), { ...mail(), from: `app@${second}` }] });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ total: 2, accepted: 1, rejected: 1 });
      expect(r.body.results[0]).toEqual({ index: 0, message_id: expect.any(String), status: 'sent' });
      expect(r.body.results[1]).toEqual({
        index: 1,
        status: 'failed',
        error: { code: 503, error: 'Service Unavailable', message: expect.stringMatching(/send this one again/) },
      });
    } finally {
      await h.services.db.raw('DROP TRIGGER refuse_peer_second');
    }
  });
});
