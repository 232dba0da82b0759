/**
 * One house, many doors: a message sent through any dialect is visible through every other dialect's lookup with
 * the same status and the same events (Octeth v1 with a sender key, CyberPanel, CloudMails and the platform API with an account key).
 */
import supertest from 'supertest';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';

let h: Harness;
let sink: Sink;
let worker: DeliveryWorker;
let s: Awaited<ReturnType<typeof senderSetup>>;
let account: string;

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}` });
  worker = createDeliveryWorker(h.services);
  s = await senderSetup(h);
  await h.call({ Command: 'user.update', AdminAPIKey: h.adminKey, UserID: s.userId, Plan: 'Enterprise' });
  account = (await h.call({ Command: 'user.apikey.create', SessionID: s.sessionId, Note: 'x', KeyType: 'account' })).APIKey.APIKey;
});
afterAll(async () => {
  await h.services.queues.close();
  await worker.stop();
  await h.close();
  await sink.close();
});

const api = () => supertest(h.app);
const from = () => `hello@${s.domain}`;

const senders: Record<string, (to: string) => Promise<string>> = {
  octeth: async (to) =>
    (
      await api()
        .post('/api/v1/email')
        .set('Authorization', `Bearer ${s.key}`)
        .send({ Subject: 'X', ContentType: 'plain', PlainContent: 'x', From: { name: '', email: from() }, To: [{ name: '', email: to }] })
    ).body.MessageID,
  cyberpanel: async (to) =>
    (await api().post('/email/v1/send').set('X-API-Key', account).send({ from: from(), to, subject: 'X', text: 'x' })).body.data.message_id,
  platform: async (to) =>
    (await api().post('/api/v1/emails').set('Authorization', `Bearer ${account}`).send({ from: from(), to, subject: 'X', text: 'x' })).body.id,
  cloudmails: async (to) =>
    (await api().post('/v1/send').set('Authorization', `Bearer ${account}`).send({ from: from(), to, subject: 'X', html: '<p>x</p>' })).body.message_id,
};

/** Each dialect's view reduced to the same facts: status, and the event types with their times (seconds). */
async function views(id: string) {
  const o = (await api().get(`/api/v1/email/${id}`).set('Authorization', `Bearer ${s.key}`)).body;
  const c = (await api().get(`/email/v1/messages/${id}`).set('Authorization', `Bearer ${account}`)).body.data;
  const p = (await api().get(`/api/v1/emails/${id}`).set('Authorization', `Bearer ${account}`)).body;
  const m = (await api().get(`/v1/emails/${id}`).set('Authorization', `Bearer ${account}`)).body;
  const oEvents = (o.Recipients[0].Events as { Event: string; LoggedAt: number }[]).map((e) => [e.Event, e.LoggedAt]);
  const pEvents = (p.events as { type: string; createdAt: string }[]).map((e) => [e.type === 'sent' ? 'queued' : e.type, Date.parse(e.createdAt) / 1000]);
  const at = (t: string) => oEvents.find((e) => e[0] === t)?.[1];
  return {
    status: [o.Status, c.status, p.email.status, m.status],
    events: [oEvents, pEvents],
    cyberpanelTimes: [Date.parse(c.queued_at) / 1000, Date.parse(c.delivered_at) / 1000],
    cloudmailsTimes: [Date.parse(m.created_at) / 1000, Date.parse(m.delivered_at) / 1000],
    octethTimes: [at('queued'), at('delivered')],
  };
}

for (const via of Object.keys(senders)) {
  it(`a message sent through ${via} shows the same status and events through Octeth, CyberPanel, CloudMails and the platform API`, async () => {
    const to = `${via}@cross.test`;
    const id = await senders[via](to);
    expect(id).toEqual(expect.any(String));
    await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first('status')).status === 'delivered', 20000, 'delivery');
    const v = await views(id);
    expect(v.status).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    expect(v.events[0].map((e) => e[0])).toEqual(['queued', 'delivered']);
    expect(v.events[1]).toEqual(v.events[0]);
    expect(v.cyberpanelTimes).toEqual(v.octethTimes);
    expect(v.cloudmailsTimes).toEqual(v.octethTimes);
  });
}

it('a held message reads as sent (accepted, not answered) in the CyberPanel, CloudMails and platform words, and ?status=sent lists it', async () => {
  const res = await api()
    .post('/api/v1/email')
    .set('Authorization', `Bearer ${s.key}`)
    .send({
      Subject: 'Held',
      ContentType: 'plain',
      PlainContent: 'x',
      From: { name: '', email: from() },
      To: [{ name: '', email: 'held@cross.test' }],
      CC: [{ name: '', email: 'copy@cross.test' }],
      BCC: [{ name: '', email: 'hidden@cross.test' }],
      SendAt: Math.floor(Date.now() / 1000) + 3600,
    });
  const id = res.body.MessageID as string;
  expect(id).toEqual(expect.any(String));
  const held = await h.call({ Command: 'queue.hold', SessionID: s.sessionId, SenderDomain: s.domain });
  expect(held.Held).toBeGreaterThanOrEqual(3);
  expect((await api().get(`/api/v1/email/${id}`).set('Authorization', `Bearer ${s.key}`)).body.Status).toBe('held');
  expect((await api().get(`/email/v1/messages/${id}`).set('Authorization', `Bearer ${account}`)).body.data.status).toBe('sent');
  expect((await api().get(`/v1/emails/${id}`).set('Authorization', `Bearer ${account}`)).body.status).toBe('sent');
  expect((await api().get(`/api/v1/emails/${id}`).set('Authorization', `Bearer ${account}`)).body.email).toMatchObject({
    status: 'sent',
    to: 'held@cross.test',
  });
  // The platform's log: listed under ?status=sent, addressed to its To recipient only (not its Cc or Bcc ones).
  const list = (await api().get('/api/v1/emails?status=sent&limit=100').set('Authorization', `Bearer ${account}`)).body;
  expect(list.emails.find((e: { id: string }) => e.id === id)).toMatchObject({ status: 'sent', to: 'held@cross.test' });
  // Octeth's log, the same command: each kind apart.
  const octeth = (await api().get('/api/v1/emails?Status=held').set('Authorization', `Bearer ${s.key}`)).body;
  expect(octeth.Emails.find((e: { MessageID: string }) => e.MessageID === id)).toMatchObject({
    Status: 'held',
    To: ['held@cross.test'],
    Cc: ['copy@cross.test'],
    Bcc: ['hidden@cross.test'],
  });
  await h.call({ Command: 'queue.purge', SessionID: s.sessionId, SenderDomain: s.domain });
});

it('CyberPanel answers a send with status "sent", as its spec writes', async () => {
  const r = await api().post('/email/v1/send').set('X-API-Key', account).send({ from: from(), to: 'spec@cross.test', subject: 'X', text: 'x' });
  expect(r.status).toBe(202);
  expect(r.body.data.status).toBe('sent');
});
