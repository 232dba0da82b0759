/**
 * Queue control over a queue longer than a page (DELETE_CHUNK_ROWS, small here): queue.hold, release, retry and
 * purge answer the same counts as before, move every row the selection names exactly once, and no statement reads
 * or changes more than a page of deliveries (src/delivery/queue-pages.ts). One read of a big tenant's whole queue
 * inside the transaction outlasted DB_QUERY_TIMEOUT_MS, and the command answered 503 every time.
 */
import { statementsDuring, sizes, Touched } from '../helpers/delete-sizes';
import { Harness, senderSetup, startHarness } from '../helpers/harness';
import { createReputationGuard } from '../../src/domains/reputation-guard';
import { isMysql } from '../../src/db';
import { DELIVERY_QUEUE, type DeliveryJob } from '../../src/delivery/enqueue';

const PAGE = 5;
/** Messages a sender has queued; then some are made deferred and scheduled. */
const MESSAGES = 3 * PAGE + 2;

let h: Harness;
beforeAll(async () => {
  // Retries an hour apart and no worker here: the rows stay where the test puts them.
  h = await startHarness({ DELETE_CHUNK_ROWS: String(PAGE), RETRY_SCHEDULE_SECONDS: '3600', WEBHOOK_ALLOW_PRIVATE: '1' });
});
afterAll(async () => {
  await h.close();
});

type Sender = Awaited<ReturnType<typeof senderSetup>>;

/**
 * A sender with MESSAGES waiting deliveries: a third deferred, a third scheduled (several sharing one time, as a
 * burst does), the rest queued.
 */
async function senderWithQueue(): Promise<Sender> {
  const s = await senderSetup(h);
  const messages = Array.from({ length: MESSAGES }, (_, i) => ({
    Subject: `m${i}`,
    ContentType: 'plain',
    PlainContent: 'x',
    From: { email: `shop@${s.domain}` },
    To: [{ email: `r${i}@example.org` }],
  }));
  const r = await h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: { Messages: messages } });
  expect(r.status).toBeLessThan(300);
  const ids = ((await h.services.db('deliveries').where({ domain_id: s.domainId }).orderBy('id').pluck('id')) as unknown[]).map(Number);
  expect(ids).toHaveLength(MESSAGES);
  const later = Date.now() + 3_600_000;
  for (const [i, id] of ids.entries()) {
    if (i % 3 === 1)
      await h.services
        .db('deliveries')
        .where({ id })
        .update({ status: 'deferred', next_attempt_at: later + (i % 2) });
    if (i % 3 === 2) await h.services.db('deliveries').where({ id }).update({ status: 'scheduled', next_attempt_at: later });
  }
  return s;
}

const statuses = async (domainId: number) =>
  Object.fromEntries(
    (
      (await h.services.db('deliveries').where({ domain_id: domainId }).groupBy('status').select('status').count({ n: '*' })) as { status: string; n: number }[]
    ).map((r) => [r.status, Number(r.n)]),
  );

/** No statement read or changed more than a page of deliveries (the per-row lease checks of a page included). */
function expectPages(read: Touched, changed: Touched) {
  expect(sizes(read).deliveries.max).toBeLessThanOrEqual(PAGE);
  expect(sizes(changed).deliveries.max).toBeLessThanOrEqual(PAGE);
}

const run = (s: Sender, command: string, params: Record<string, unknown> = {}) =>
  statementsDuring(h.services.db, () => h.call({ Command: command, SessionID: s.sessionId, DomainID: s.domainId, ...params }));

it('queue.hold and queue.release move a long queue a page at a time, each row once, and leave the other sender alone', async () => {
  const s = await senderWithQueue();
  const other = await senderWithQueue();
  const before = await statuses(s.domainId);

  const held = await run(s, 'queue.hold');
  expect(held.result).toEqual({ Success: true, ErrorCode: 0, Held: MESSAGES });
  expectPages(held.read, held.changed);
  expect(sizes(held.changed).deliveries.total).toBe(MESSAGES);
  expect(await statuses(s.domainId)).toEqual({ held: MESSAGES });

  const released = await run(s, 'queue.release');
  expect(released.result).toEqual({ Success: true, ErrorCode: 0, Released: MESSAGES });
  expectPages(released.read, released.changed);
  expect(await statuses(s.domainId)).toEqual(before);
  expect(await statuses(other.domainId)).toEqual(before);
});

it('queue.retry makes every queued and deferred delivery due now once, though each move puts it at the time the walk reads', async () => {
  const s = await senderWithQueue();
  const waiting = await h.services.db('deliveries').where({ domain_id: s.domainId }).whereIn('status', ['queued', 'deferred']).count({ n: '*' });
  const expected = Number(waiting[0].n);
  const started = Date.now();
  const retried = await run(s, 'queue.retry');
  expect(retried.result).toEqual({ Success: true, ErrorCode: 0, Retried: expected });
  expectPages(retried.read, retried.changed);
  expect(sizes(retried.changed).deliveries.total).toBe(expected);
  const due = await h.services.db('deliveries').where({ domain_id: s.domainId }).whereIn('status', ['queued', 'deferred']).pluck('next_attempt_at');
  for (const at of due) expect(Number(at)).toBeGreaterThanOrEqual(started);
  expect(
    await h.services.db('deliveries').where({ domain_id: s.domainId, status: 'scheduled' }).where('next_attempt_at', '<', Date.now()).first(),
  ).toBeUndefined();
});

it('queue.retry retries and counts once a delivery a worker defers to a later time (and status) during the walk', async () => {
  const s = await senderWithQueue();
  const db = h.services.db;
  const waiting = (
    (await db('deliveries').where({ domain_id: s.domainId }).whereIn('status', ['queued', 'deferred']).orderBy('id').pluck('id')) as unknown[]
  ).map(Number);
  // As a worker does with each row the moment its job arrives: tries it, and defers it past the rest of the queue
  // (ahead of the walk; a queued one becomes deferred, whose walk is still to come). Once each, as a retry an hour on.
  const queue = h.services.queues.queue<DeliveryJob>(DELIVERY_QUEUE);
  const addBulk = queue.addBulk;
  const enqueued: number[] = [];
  const worked = new Set<number>();
  queue.addBulk = async (jobs) => {
    const ids = jobs.flatMap((j) => (j.data.deliveryIds ?? [j.data.deliveryId]) as number[]);
    enqueued.push(...ids);
    const fresh = ids.filter((id) => !worked.has(id));
    fresh.forEach((id) => worked.add(id));
    if (fresh.length)
      await db('deliveries')
        .whereIn('id', fresh)
        .update({ status: 'deferred', attempts: db.raw('attempts + 1'), next_attempt_at: Date.now() + 7_200_000, updated_at: Date.now() });
    return addBulk.call(queue, jobs);
  };
  try {
    const retried = await h.call({ Command: 'queue.retry', SessionID: s.sessionId, DomainID: s.domainId });
    expect(retried).toEqual({ Success: true, ErrorCode: 0, Retried: waiting.length });
  } finally {
    queue.addBulk = addBulk;
  }
  expect([...enqueued].sort((a, b) => a - b)).toEqual(waiting);
});

it("a walk reads along its scope's queue index on MySQL, whatever else the filter names", async () => {
  if (!isMysql(h.services.db)) return; // SQLite's planner takes them unasked (bench/queue-walk.ts)
  const s = await senderWithQueue();
  const pageReads: { sql: string; bindings: unknown[] }[] = [];
  const seen = (q: { sql: string; bindings: unknown[] }) => {
    if (/from `deliveries`.*order by/i.test(q.sql)) pageReads.push(q);
  };
  const keysOf = async (params: Record<string, unknown>) => {
    pageReads.length = 0;
    h.services.db.on('query', seen);
    try {
      expect(await h.call({ SessionID: s.sessionId, ...params })).toMatchObject({ Success: true });
    } finally {
      h.services.db.off('query', seen);
    }
    expect(pageReads.length).toBeGreaterThan(0);
    const keys = new Set<string>();
    for (const q of pageReads) {
      const [plan] = (await h.services.db.raw(`explain ${q.sql}`, q.bindings as (string | number)[])) as [{ table: string; key: string }[]];
      keys.add(plan.find((r) => r.table === 'deliveries')!.key);
    }
    return [...keys];
  };
  expect(await keysOf({ Command: 'queue.hold', DomainID: s.domainId, RecipientDomain: 'example.org' })).toEqual(['deliveries_domain_queue_idx']);
  expect(await keysOf({ Command: 'queue.release', SenderDomain: s.domain })).toEqual(['deliveries_domain_queue_idx']);
  const rcpt = await keysOf({ Command: 'queue.retry', RecipientDomain: 'example.org' });
  expect(rcpt.every((k) => ['deliveries_user_queue_idx', 'deliveries_rcpt_queue_idx'].includes(k))).toBe(true);
  expect(await keysOf({ Command: 'emailgateway.cleardomainqueue', DomainID: s.domainId })).toEqual(['deliveries_domain_queue_idx']);
});

it('queue.purge fails a long queue a page at a time, a failed event each', async () => {
  const s = await senderWithQueue();
  await run(s, 'queue.hold', { RecipientDomain: 'example.org', MaxAgeSeconds: 3600 });
  const purged = await run(s, 'queue.purge');
  expect(purged.result).toEqual({ Success: true, ErrorCode: 0, Purged: MESSAGES });
  expectPages(purged.read, purged.changed);
  expect(await statuses(s.domainId)).toEqual({ failed: MESSAGES });
  expect(await h.services.db('events').where({ domain_id: s.domainId, type: 'failed' }).count({ n: '*' })).toEqual([{ n: MESSAGES }]);
});

it('emailgateway.cleardomainqueue cancels a long queue a page at a time, a cancelled event each', async () => {
  const s = await senderWithQueue();
  const other = await senderWithQueue();
  await run(s, 'queue.hold', { RecipientDomain: 'example.org', MaxAgeSeconds: 3600 });
  const cleared = await run(s, 'emailgateway.cleardomainqueue');
  expect(cleared.result).toEqual({ Success: true, ErrorCode: 0, Cancelled: MESSAGES });
  expectPages(cleared.read, cleared.changed);
  expect(await statuses(s.domainId)).toEqual({ cancelled: MESSAGES });
  expect(await h.services.db('events').where({ domain_id: s.domainId, type: 'cancelled' }).count({ n: '*' })).toEqual([{ n: MESSAGES }]);
  expect((await statuses(other.domainId)).cancelled).toBeUndefined();
});

describe('a suspension and its lift (emailgateway.setdomainstatus)', () => {
  const admin = (s: Sender, Status: string) =>
    statementsDuring(h.services.db, () => h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: h.adminKey, DomainID: s.domainId, Status }));
  const lastEvent = async (domainId: number, type: string) =>
    JSON.parse(String((await h.services.db('domain_events').where({ domain_id: domainId, type }).orderBy('id', 'desc').first('data')).data));

  it('hold and release a long queue a page at a time; the events carry the counts', async () => {
    const s = await senderWithQueue();
    const before = await statuses(s.domainId);
    const suspended = await admin(s, 'Suspended');
    expect(suspended.result).toEqual({ Success: true, ErrorCode: 0, DomainID: s.domainId, Status: 'Suspended', Changed: true, HeldDeliveries: MESSAGES });
    expectPages(suspended.read, suspended.changed);
    expect(await statuses(s.domainId)).toEqual({ held: MESSAGES });
    expect(await lastEvent(s.domainId, 'domain.suspended')).toMatchObject({ reason: 'admin', previous_status: 'Enabled', held_deliveries: MESSAGES });

    const lifted = await admin(s, 'Enabled');
    expect(lifted.result).toMatchObject({ Success: true, Changed: true, ReleasedDeliveries: MESSAGES });
    expectPages(lifted.read, lifted.changed);
    expect(await statuses(s.domainId)).toEqual(before);
    expect(await lastEvent(s.domainId, 'domain.unsuspended')).toMatchObject({ released_deliveries: MESSAGES });
    // Nothing left to finish: asked again, the lift is refused as before.
    expect((await admin(s, 'Enabled')).result).toMatchObject({ Success: false, ErrorCode: 4 });
  });

  it('a suspension or lift cut short (its event still without its count) is finished by the same call', async () => {
    const s = await senderWithQueue();
    const db = h.services.db;
    const now = Date.now();
    // As a suspension cut short leaves it: Suspended, its event begun, its mail still waiting.
    await db('sender_domains').where({ id: s.domainId }).update({ status: 'Suspended' });
    const data = { reason: 'admin', previous_status: 'Disabled', held_deliveries: null };
    await db('domain_events').insert({ domain_id: s.domainId, user_id: s.userId, type: 'domain.suspended', data: JSON.stringify(data), created_at: now });
    expect((await admin(s, 'Suspended')).result).toMatchObject({ Changed: true, HeldDeliveries: MESSAGES });
    expect(await lastEvent(s.domainId, 'domain.suspended')).toEqual({ ...data, held_deliveries: MESSAGES });
    expect((await admin(s, 'Suspended')).result).toMatchObject({ Changed: false });

    // As a lift cut short leaves it: no longer Suspended, its event begun, its mail still held.
    await db('sender_domains').where({ id: s.domainId }).update({ status: 'Disabled' });
    await db('domain_events').insert({
      domain_id: s.domainId,
      user_id: s.userId,
      type: 'domain.unsuspended',
      data: '{"status":"Disabled","released_deliveries":null}',
      created_at: now,
    });
    expect((await admin(s, 'Enabled')).result).toMatchObject({ Changed: true, Status: 'Disabled', ReleasedDeliveries: MESSAGES });
    expect(await lastEvent(s.domainId, 'domain.unsuspended')).toEqual({ status: 'Disabled', released_deliveries: MESSAGES });
    expect((await statuses(s.domainId)).held).toBeUndefined();
  });

  /** A sender whose suspension was cut short (Suspended, its event begun, its mail still waiting) and a domain.suspended webhook. */
  async function cutShort(): Promise<Sender> {
    const s = await senderWithQueue();
    // No webhook worker runs here: the call is only queued, to a loopback port nothing listens on.
    const hook = await h.call({
      Command: 'emailgateway.addwebhook',
      SessionID: s.sessionId,
      DomainID: s.domainId,
      Event: 'domain.suspended',
      WebhookURL: 'http://127.0.0.1:9/x',
    });
    expect(hook).toMatchObject({ Success: true });
    await h.services.db('sender_domains').where({ id: s.domainId }).update({ status: 'Suspended' });
    const data = { reason: 'admin', previous_status: 'Enabled', held_deliveries: null };
    await h.services
      .db('domain_events')
      .insert({ domain_id: s.domainId, user_id: s.userId, type: 'domain.suspended', data: JSON.stringify(data), created_at: Date.now() });
    return s;
  }
  const suspendedCalls = async (s: Sender) =>
    Number(
      (
        await h.services
          .db('webhook_deliveries as w')
          .join('webhooks as k', 'k.id', 'w.webhook_id')
          .where({ 'k.domain_id': s.domainId, 'w.event_type': 'domain.suspended' })
          .count({ n: '*' })
      )[0].n,
    );

  it("a suspension cut short is finished by the reputation guard's next pass", async () => {
    const s = await cutShort();
    const guard = createReputationGuard(h.services, { timer: false });
    try {
      await guard.runOnce();
    } finally {
      await guard.stop();
    }
    expect(await statuses(s.domainId)).toEqual({ held: MESSAGES });
    expect((await lastEvent(s.domainId, 'domain.suspended')).held_deliveries).toBe(MESSAGES);
    expect(await suspendedCalls(s)).toBe(1);
  });

  it('two calls finishing one suspension at once complete it once: one webhook call', async () => {
    const s = await cutShort();
    const ask = () => h.call({ Command: 'emailgateway.setdomainstatus', AdminAPIKey: h.adminKey, DomainID: s.domainId, Status: 'Suspended' });
    const answers = await Promise.all([ask(), ask()]);
    expect(answers.every((a) => a.Success)).toBe(true);
    expect(await statuses(s.domainId)).toEqual({ held: MESSAGES });
    expect(await suspendedCalls(s)).toBe(1);
  });
});
