import { Writable } from 'node:stream';
import winston from 'winston';
import { DELIVERY_QUEUE } from '../../src/delivery/enqueue';
import { shownStatus } from '../../src/delivery/leased';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { createLogger } from '../../src/logger';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { Sink, startSink, waitFor } from '../helpers/sink';

/**
 * A sender domain deleted (emailgateway.deletedomain) while one of its messages waits for the worker: the message,
 * its deliveries and its events go with the domain (the foreign keys cascade), so the worker's lease finds nothing
 * and sends nothing. Deleted after the worker leased the row, the worker finds the domain gone ("message or domain no
 * longer exists") and fails it through the settle path, which finds no row left to record on. Either way nothing
 * reaches the smarthost, nothing crashes, and the worker goes on delivering.
 */
let h: Harness;
let sink: Sink;
let worker: DeliveryWorker | undefined;
const lines: Record<string, any>[] = [];

beforeAll(async () => {
  const logger = createLogger('info');
  logger.clear();
  logger.add(new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, cb) => (lines.push(JSON.parse(String(chunk))), cb()) }) }));
  sink = await startSink();
  h = await startHarness({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`, RETRY_SCHEDULE_SECONDS: '3600' }, { logger });
});
afterAll(async () => {
  await h.services.queues.close();
  await worker?.stop();
  await h.close();
  await sink.close();
});

type Sender = Awaited<ReturnType<typeof senderSetup>>;

async function send(s: Sender, to: string): Promise<string> {
  const res = await h.request('POST', '/api/v1/email', {
    headers: { Authorization: `Bearer ${s.key}` },
    body: { Subject: `to ${to}`, ContentType: 'plain', PlainContent: 'body', From: { name: '', email: `app@${s.domain}` }, To: [{ name: '', email: to }] },
  });
  expect(res.status).toBe(200);
  return res.body.MessageID;
}

async function deleteDomain(s: Sender): Promise<void> {
  expect(await h.call({ Command: 'emailgateway.deletedomain', SessionID: s.sessionId, DomainID: s.domainId })).toMatchObject({ Success: true });
}

/** What is left of a message: its row, its deliveries and its events. */
async function leftOf(id: string) {
  const db = h.services.db;
  return {
    messages: (await db('messages').where({ id })).length,
    deliveries: (await db('deliveries').where({ message_id: id })).length,
    events: (await db('events').where({ message_id: id })).length,
  };
}

const crashes = () => lines.filter((l) => l.message === 'delivery attempt crashed');
const copiesTo = (to: string) => sink.received.filter((r) => r.to.includes(to)).length;

/** A later send of another sender's is delivered: the worker goes on working. */
async function laterSendDelivers(s: Sender, to: string): Promise<void> {
  const id = await send(s, to);
  await waitFor(async () => (await h.services.db('deliveries').where({ message_id: id }).first())?.status === 'delivered', 15_000, `${to} delivered`);
  expect(copiesTo(to)).toBe(1);
}

it('sends nothing for a message whose domain was deleted before the worker took it, and goes on delivering', async () => {
  const gone = await senderSetup(h);
  const other = await senderSetup(h);
  const id = await send(gone, 'gone@dest.test');
  expect(await leftOf(id)).toEqual({ messages: 1, deliveries: 1, events: 1 }); // accepted: queued
  await deleteDomain(gone);
  expect(await leftOf(id)).toEqual({ messages: 0, deliveries: 0, events: 0 });

  worker = createDeliveryWorker(h.services); // its job was waiting in the queue all along
  await laterSendDelivers(other, 'after-delete@dest.test');
  await waitFor(async () => (await h.services.queues.queue(DELIVERY_QUEUE).waiting()) === 0, 10_000, 'the queue drained');
  expect(await leftOf(id)).toEqual({ messages: 0, deliveries: 0, events: 0 });
  expect(copiesTo('gone@dest.test')).toBe(0);
  expect(lines.filter((l) => l.message === 'delivery attempt' && l.messageId === id)).toEqual([]); // leased nothing
  expect(crashes()).toEqual([]);
});

it('fails a leased delivery whose domain was deleted before it was sent, sends nothing, and goes on delivering', async () => {
  const gone = await senderSetup(h);
  const other = await senderSetup(h);
  worker ??= createDeliveryWorker(h.services);
  // The worker's lease answers, then waits until the domain is deleted.
  const store = h.services.store;
  const original = store.runTogether;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let reached = false;
  store.runTogether = async function (this: typeof store, stmts) {
    const result = await original.call(this, stmts);
    const rows = result[1];
    if (!reached && Array.isArray(rows) && rows.some((r) => r?.recipient === 'raced@dest.test' && Number(r.part) === 0)) {
      reached = true;
      await gate;
    }
    return result;
  };
  try {
    const id = await send(gone, 'raced@dest.test');
    await waitFor(() => reached, 10_000, 'the lease');
    expect(shownStatus(await h.services.db('deliveries').where({ message_id: id }).first())).toBe('sending');
    await deleteDomain(gone);
    open();
    const attempt = () => lines.find((l) => l.message === 'delivery attempt' && l.messageId === id);
    await waitFor(() => !!attempt(), 10_000, 'the attempt log line');
    expect(attempt()).toMatchObject({ outcome: 'failed', reply: 'message or domain no longer exists', attempt: 1 });
    // The settle path found no row to record on: no delivery left, and no failed event about a deleted domain.
    expect(await leftOf(id)).toEqual({ messages: 0, deliveries: 0, events: 0 });
    expect(copiesTo('raced@dest.test')).toBe(0);
    expect(crashes()).toEqual([]);
  } finally {
    open();
    store.runTogether = original;
  }
  await laterSendDelivers(other, 'after-race@dest.test');
});
