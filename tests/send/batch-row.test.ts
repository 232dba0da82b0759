/**
 * A batch accepted as one pending row (issue 15): with no worker running every read through the doors finds its
 * messages at once (GET by id, the message log, events, stats, cancel), as a directly written message reads; a
 * worker then delivers each exactly once; two expanders racing on one row expand it once; a failed expansion leaves
 * the row and nothing else; the sweeper expands a row whose job was lost; an Idempotency-Key replays, once stored.
 */
import crypto from 'node:crypto';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { expandBatch, expandOrphans } from '../../src/mail/expand-batches';
import { decodeContent } from '../../src/mail/stored-content';
import { pendingJobId } from '../../src/mail/pending-batches';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { metric } from '../helpers/prom';
import { Sink, startSink, waitFor } from '../helpers/sink';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
let s: Sender;
let sink: Sink;
let worker: DeliveryWorker | null = null;

beforeAll(async () => {
  sink = await startSink();
  h = await startHarness({ DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`, RETRY_SCHEDULE_SECONDS: '1' });
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await worker?.stop();
  await h.close();
  await sink.close();
});

const BIG = 60; // over the group commit's 50 recipients: the one-row path

function message(subject: string, to: string, as: Sender = s) {
  return {
    Subject: subject,
    ContentType: 'html',
    HTMLContent: '<p>Your order has shipped.</p>',
    PlainContent: 'Your order has shipped.',
    From: { name: 'Shop', email: `shop@${as.domain}` },
    To: [{ name: 'Buyer', email: to }],
    Tags: ['shipping'],
  };
}

// Fixed width, so every message of a batch (and its twin) has the same size.
const rcpt = (tag: string, i: number) => `r${String(i).padStart(3, '0')}.${tag}@recipient.test`;

async function batch(n: number, tag: string, o: { idem?: string; to?: string; as?: Sender } = {}): Promise<{ ids: string[]; body: any; replayed?: string }> {
  const as = o.as ?? s;
  const headers: Record<string, string> = { Authorization: `Bearer ${as.key}` };
  if (o.idem) headers['Idempotency-Key'] = o.idem;
  const res = await h.request('POST', '/api/v1/email/batch', {
    headers,
    body: { Messages: Array.from({ length: n }, (_, i) => message(`Shipped ${tag}`, o.to ?? rcpt(tag, i), as)) },
  });
  expect(res.status).toBe(200);
  expect(res.body.Accepted).toBe(n);
  return { ids: res.body.Results.map((r: { MessageID: string }) => r.MessageID), body: res.body, replayed: res.headers['idempotent-replayed'] };
}

const get = (id: string, as: Sender = s) => h.request('GET', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${as.key}` } });
const cancel = (id: string, as: Sender = s) => h.request('DELETE', `/api/v1/email/${id}`, { headers: { Authorization: `Bearer ${as.key}` } });
const timeline = (id: string, as: Sender = s) => h.call({ Command: 'emailgateway.getmessagetimeline', SessionID: as.sessionId, MessageID: id });
const count = async (table: string, where: (q: any) => any) => Number((await where(h.services.db(table)).count({ n: '*' }))[0].n);
const pendingRows = (as: Sender = s) => h.services.db('pending_batches').where({ user_id: as.userId }).orderBy('created_at').select('id', 'created_at');

/** A message's GET reply without what differs between two messages (ids, times, recipient). */
function shape(body: any) {
  const { MessageID: _id, MessageIDHeader: _h, CreatedAt: _c, Recipients, ...rest } = body;
  return {
    ...rest,
    Recipients: Recipients.map(({ Email: _e, NextAttemptAt: _n, Events, ...r }: any) => ({
      ...r,
      Events: Events.map(({ Event, Data }: any) => ({ Event, Data: Object.keys(Data ?? {}) })),
    })),
  };
}

describe('a batch accepted as one row, with no worker running', () => {
  const tag = `reads${crypto.randomBytes(3).toString('hex')}`;
  let ids: string[];
  let sentBefore: number;

  beforeAll(async () => {
    sentBefore = (await h.call({ Command: 'emailgateway.accountstats', SessionID: s.sessionId })).Totals.Sent;
    ({ ids } = await batch(BIG, tag));
  });

  it('is stored as one row until something reads or delivers it', async () => {
    expect(await pendingRows()).toHaveLength(1);
    expect(await count('messages', (q) => q.whereIn('id', ids))).toBe(0);
  });

  it('counts its recipients as queued in /metrics before it is expanded (a scrape is not a read of mail)', async () => {
    const res = await h.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(metric(res.text, 'postern_queue_pending_batch_recipients')).toBe(BIG);
    expect(metric(res.text, 'postern_queue_depth', { state: 'queued' })).toBe(BIG);
    expect(metric(res.text, 'postern_queue_oldest_queued_seconds')).toBeGreaterThanOrEqual(0);
    expect(await pendingRows()).toHaveLength(1);
  });

  it('answers GET /api/v1/email/{id} for every message as for a message written at accept', async () => {
    // The same message sent alone: written at accept by the group commit.
    const twin = (await batch(1, tag, { to: `t000.${tag}@recipient.test` })).ids[0];
    const direct = await get(twin);
    expect(direct.status).toBe(200);
    for (const id of ids) {
      const r = await get(id);
      expect(r.status).toBe(200);
      expect(r.body.MessageID).toBe(id);
      expect(shape(r.body)).toEqual(shape(direct.body));
    }
    expect(shape(direct.body)).toMatchObject({ Status: 'queued', Subject: `Shipped ${tag}`, Tags: ['shipping'] });
    expect(await pendingRows()).toHaveLength(0);
    expect(await count('deliveries', (q) => q.whereIn('message_id', ids))).toBe(BIG);
    expect(await count('events', (q) => q.whereIn('message_id', ids).where({ type: 'queued' }))).toBe(BIG);
    // The stored content the worker composes from is the twin's but for the recipient, Message-ID and Date.
    const content = async (id: string) => {
      const { to: _t, messageIdHeader: _m, date: _d, ...rest } = decodeContent((await h.services.db('messages').where({ id }).first('content')).content);
      return rest;
    };
    expect(await content(ids[0])).toEqual(await content(twin));
  });

  it('lists them in the message log, the events and the stats at once', async () => {
    const more = (await batch(BIG, `${tag}-more`)).ids;
    expect(await pendingRows()).toHaveLength(1);
    const log = await h.call({ Command: 'emailgateway.getmessagelog', SessionID: s.sessionId, RetrieveCount: 100, Recipient: rcpt(`${tag}-more`, 7) });
    expect(log.Messages.map((m: { MessageID: string }) => m.MessageID)).toEqual([more[7]]);
    expect(log.Messages[0]).toMatchObject({ Status: 'queued', Recipients: [{ Email: rcpt(`${tag}-more`, 7), Status: 'queued' }] });

    const third = (await batch(BIG, `${tag}-third`)).ids;
    const events = await h.request('GET', `/api/v1/events?MessageID=${third[3]}&RetrieveCount=100`, { headers: { Authorization: `Bearer ${s.key}` } });
    expect(events.body.Events.map((e: { Event: string; Recipient: string }) => [e.Event, e.Recipient])).toEqual([['queued', rcpt(`${tag}-third`, 3)]]);

    await batch(BIG, `${tag}-fourth`);
    const stats = await h.call({ Command: 'emailgateway.accountstats', SessionID: s.sessionId });
    expect(stats.Totals.Sent).toBe(sentBefore + 4 * BIG + 1);
    expect(await pendingRows()).toHaveLength(0);
  });

  it('counts them in an admin read (queue.status) at once', async () => {
    const before = (await h.call({ Command: 'queue.status', AdminAPIKey: h.adminKey })).Queue.Queued;
    await batch(BIG, `${tag}-admin`);
    expect(await pendingRows()).toHaveLength(1);
    const after = await h.call({ Command: 'queue.status', AdminAPIKey: h.adminKey });
    expect(after).toMatchObject({ Success: true });
    expect(after.Queue.Queued).toBe(before + BIG);
    expect(await pendingRows()).toHaveLength(0);
  });

  it('cancels a message of a row not yet expanded', async () => {
    const { ids: fresh } = await batch(BIG, `${tag}-cancel`);
    const r = await cancel(fresh[0]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ MessageID: fresh[0], Cancelled: 1 });
    expect((await get(fresh[0])).body.Status).toBe('cancelled');
  });

  it('answers emailgateway.getmessagetimeline for a message of a row not yet expanded as for a message written at accept', async () => {
    const twin = (await batch(1, `${tag}-timeline`, { to: `t000.${tag}-timeline@recipient.test` })).ids[0];
    const direct = await timeline(twin);
    expect(direct).toMatchObject({ Success: true, Status: 'queued', DomainID: s.domainId, SenderDomain: s.domain });
    const { ids: fresh } = await batch(BIG, `${tag}-timeline`);
    expect(await pendingRows()).toHaveLength(1);
    const view = await timeline(fresh[5]);
    expect(view.MessageID).toBe(fresh[5]);
    expect(shape(view)).toEqual(shape(direct));
    expect(await pendingRows()).toHaveLength(0);
  });

  it('leaves pending rows to the worker when a lookup by id (GET, DELETE, getmessagetimeline) finds a written message', async () => {
    // Its own account: the worker's test below counts the cancelled deliveries of the first one.
    const other = await senderSetup(h);
    const written = (await batch(1, `${tag}-kept`, { as: other })).ids[0];
    const { ids: pending } = await batch(BIG, `${tag}-kept`, { as: other });
    expect(await pendingRows(other)).toHaveLength(1);
    expect((await get(written, other)).body).toMatchObject({ MessageID: written, Status: 'queued' });
    expect(await timeline(written, other)).toMatchObject({ Success: true, MessageID: written, Status: 'queued' });
    expect((await cancel(written, other)).body).toEqual({ MessageID: written, Cancelled: 1 });
    expect(await pendingRows(other)).toHaveLength(1);
    expect(await count('messages', (q) => q.whereIn('id', pending))).toBe(0);
    // A miss while rows are pending expands them before it answers code 4.
    const notFound = await cancel(crypto.randomUUID(), other);
    expect(notFound.body).toEqual({ Errors: [{ Code: 4, Message: 'Message not found' }] });
    expect(await pendingRows(other)).toHaveLength(0);
    expect((await cancel(pending[0], other)).body).toEqual({ MessageID: pending[0], Cancelled: 1 });
    // The worker's test below counts what its sink receives: this account's mail is not sent.
    expect(await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: other.sessionId, DomainID: other.domainId })).toMatchObject({ Success: true });
  });
});

describe('expansion', () => {
  it('expands a row once when two expanders race on it', async () => {
    const { ids } = await batch(BIG, `race${crypto.randomBytes(3).toString('hex')}`);
    const [row] = await pendingRows();
    const outcomes = await Promise.all([expandBatch(h.services, row.id), expandBatch(h.services, row.id)]);
    expect(outcomes.sort((a, b) => a - b)).toEqual([0, BIG]);
    expect(await count('messages', (q) => q.whereIn('id', ids))).toBe(BIG);
    expect(await count('deliveries', (q) => q.whereIn('message_id', ids))).toBe(BIG);
    expect(await count('events', (q) => q.whereIn('message_id', ids))).toBe(BIG);
    expect(await pendingRows()).toHaveLength(0);
  });

  it('pairs each queued event with its own delivery when two rows of many recipients expand side by side', async () => {
    // 200 messages of 3 recipients: the deliveries go in more than one INSERT (500 rows each), whose ids are not read back on MariaDB.
    // Its own account, whose queue is cleared at the end: the worker's test below would otherwise deliver these
    // 1,200 messages as well (over half its sink's mail, and of this file's CPU), which no test here reads.
    const other = await senderSetup(h);
    const post = (t: string) =>
      h.request('POST', '/api/v1/email/batch', {
        headers: { Authorization: `Bearer ${other.key}` },
        body: {
          Messages: Array.from({ length: 200 }, (_, i) => ({
            ...message(`Shipped ${t}`, rcpt(t, i), other),
            CC: [{ email: rcpt(`${t}c`, i) }, { email: rcpt(`${t}d`, i) }],
          })),
        },
      });
    const tags = ['pairA', 'pairB'].map((p) => `${p}${crypto.randomBytes(3).toString('hex')}`);
    const ids = (await Promise.all(tags.map(post))).flatMap((res) => {
      expect(res.status).toBe(200);
      return res.body.Results.map((r: { MessageID: string }) => r.MessageID);
    });
    const rows = await pendingRows(other);
    expect(rows).toHaveLength(2);
    expect(await Promise.all(rows.map((r) => expandBatch(h.services, r.id)))).toEqual([600, 600]);
    const deliveries = await h.services.db('deliveries').whereIn('message_id', ids).select('id', 'message_id', 'recipient');
    expect(deliveries).toHaveLength(1200);
    const byId = new Map(deliveries.map((d: { id: number; message_id: string; recipient: string }) => [Number(d.id), d]));
    const queued = await h.services.db('events').whereIn('message_id', ids).where({ type: 'queued' }).select('delivery_id', 'message_id', 'data');
    expect(queued).toHaveLength(1200);
    expect(new Set(queued.map((e: { delivery_id: number }) => Number(e.delivery_id))).size).toBe(1200);
    for (const e of queued) {
      const d = byId.get(Number(e.delivery_id));
      expect({ message_id: d?.message_id, recipient: d?.recipient }).toEqual({ message_id: e.message_id, recipient: JSON.parse(e.data).recipient });
    }
    expect(await h.call({ Command: 'emailgateway.cleardomainqueue', SessionID: other.sessionId, DomainID: other.domainId })).toMatchObject({
      Success: true,
      Cancelled: 1200,
    });
  });

  it('rolls a failed expansion back whole and leaves the row for a retry', async () => {
    const { ids } = await batch(BIG, `fail${crypto.randomBytes(3).toString('hex')}`);
    const [row] = await pendingRows();
    // A row already holding one of the batch's message ids makes the expansion fail halfway through its inserts.
    const blocker = { ...(await h.services.db('messages').first()), id: ids[BIG - 1] };
    await h.services.db('messages').insert(blocker);
    // The driver's own error: better-sqlite3's is built with the error class of the first test file of this jest
    // worker (its addon is loaded once per process), so `toThrow()`'s Error check fails on it in later files.
    await expect(expandBatch(h.services, row.id)).rejects.toHaveProperty('code', expect.stringMatching(/^(ER_DUP_ENTRY|SQLITE_CONSTRAINT)/));
    expect((await pendingRows()).map((r) => r.id)).toEqual([row.id]);
    expect(await count('messages', (q) => q.whereIn('id', ids))).toBe(1);
    expect(await count('deliveries', (q) => q.whereIn('message_id', ids))).toBe(0);
    expect(await count('events', (q) => q.whereIn('message_id', ids))).toBe(0);

    await h.services
      .db('messages')
      .where({ id: ids[BIG - 1] })
      .del();
    expect((await get(ids[0])).body.Status).toBe('queued');
    expect(await count('deliveries', (q) => q.whereIn('message_id', ids))).toBe(BIG);
    expect(await pendingRows()).toHaveLength(0);
  });

  it('replays an Idempotency-Key batch and stores its messages once', async () => {
    const key = `idem-${crypto.randomUUID()}`;
    const tag = `idem${crypto.randomBytes(3).toString('hex')}`;
    const first = await batch(BIG, tag, { idem: key });
    const again = await batch(BIG, tag, { idem: key });
    expect(again.body).toEqual(first.body);
    expect(again.replayed).toBe('true');
    expect(await pendingRows()).toHaveLength(1);
    expect((await get(first.ids[0])).status).toBe(200);
    expect(await count('messages', (q) => q.where({ subject: `Shipped ${tag}` }))).toBe(BIG);
    expect(await count('deliveries', (q) => q.whereIn('message_id', first.ids))).toBe(BIG);
  });
});

describe('the delivery worker', () => {
  it('expands a row whose job was lost (the sweeper) and delivers every accepted message exactly once', async () => {
    const tag = `lost${crypto.randomBytes(3).toString('hex')}`;
    await batch(BIG, tag);
    const [row] = await pendingRows();
    expect(await h.services.queues.queue('deliveries').remove(pendingJobId(row.id))).toBe(true);
    // Younger than the sweeper's cutoff: left for its job.
    expect(await expandOrphans(h.services, Number(row.created_at) - 1)).toBe(0);

    worker = createDeliveryWorker(h.services);
    // Polled every 100 ms, not 25: each poll is a read of the database the worker is writing to.
    await waitFor(async () => (await pendingRows()).length === 0, 10_000, 'the startup sweep', 100);
    const expected = await count('deliveries', (q) => q.where({ user_id: s.userId }).whereNot({ status: 'cancelled' }));
    const cancelled = await h.services.db('deliveries').where({ user_id: s.userId, status: 'cancelled' }).pluck('recipient');
    expect(cancelled).toHaveLength(1);
    await waitFor(
      async () => (await count('deliveries', (q) => q.where({ user_id: s.userId }).whereNotIn('status', ['delivered', 'cancelled']))) === 0,
      30_000,
      'every delivery',
      100,
    );
    // A moment more: a second copy of anything would arrive now.
    await new Promise((r) => setTimeout(r, 500));
    const to = sink.received.flatMap((m) => m.to);
    expect(to).toHaveLength(expected);
    expect(new Set(to).size).toBe(to.length);
    expect(to).toContain(rcpt(tag, 0));
    expect(to).not.toContain(cancelled[0]);
    // Room for its own waits (10 s + 30 s): under load the 30 s default ended it first, with no word of which wait.
  }, 60_000);
});
