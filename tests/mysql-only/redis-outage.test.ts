/**
 * Redis down, restarted and flushed: sending keeps working (the database is the truth; the message is enqueued
 * once Redis is back), rate limits and login throttles fall back to in-process counters, and nothing accepted is
 * lost. Runs on a Redis of its own (tests/helpers/private-servers.ts), never the shared one.
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { createDeliveryWorker, DeliveryWorker } from '../../src/delivery/worker';
import { createUser, Harness, senderSetup, startHarness } from '../helpers/harness';
import { PrivateServer, startRedis } from '../helpers/private-servers';
import { Sink, smtpError, startSink, waitFor } from '../helpers/sink';

let redis: PrivateServer;
let sink: Sink;
let h: Harness;
let worker: DeliveryWorker;

beforeAll(async () => {
  redis = await startRedis();
  sink = await startSink();
  h = await startHarness(
    {
      DELIVERY_MODE: 'relay',
      SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
      RETRY_SCHEDULE_SECONDS: '1',
      SWEEP_INTERVAL_SECONDS: '1',
      // Long, so that only the sweep on reconnecting can explain a prompt delivery after an outage.
      SWEEP_GRACE_SECONDS: '120',
      API_RATE_LIMIT_PER_MINUTE: '5',
      // Far above the bound below: a send that waited on a Redis command would take this long, one that did not
      // takes milliseconds, and a loaded CI machine has room between the two.
      REDIS_COMMAND_TIMEOUT_MS: '5000',
    },
    { redisUrl: redis.url },
  );
  worker = createDeliveryWorker(h.services);
}, 60_000);

afterAll(async () => {
  await h?.services.queues.close();
  await worker?.stop();
  await h?.close();
  await sink?.close();
  await redis?.destroy();
});

const message = (domain: string, to: string, subject = 'Redis outage') => ({
  Subject: subject,
  ContentType: 'plain',
  PlainContent: 'hello',
  From: { name: 'Shop', email: `shop@${domain}` },
  To: [{ name: '', email: to }],
});

function received(to: string): number {
  return sink.received.filter((r) => r.to.includes(to)).length;
}

it('accepts sends at once while Redis is down and delivers them once it is back', async () => {
  const s = await senderSetup(h);
  const to = Array.from({ length: 3 }, (_, i) => `down${i}-${crypto.randomBytes(3).toString('hex')}@sink.test`);
  await redis.kill();
  try {
    for (const rcpt of to) {
      const t = Date.now();
      const res = await h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${s.key}` }, body: message(s.domain, rcpt) });
      expect(res.status).toBe(200);
      expect(res.body.MessageID).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.now() - t).toBeLessThan(2500);
    }
    const ready = await h.request('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks.redis).toMatch(/^unreachable/);
    await new Promise((r) => setTimeout(r, 300));
    expect(to.map(received)).toEqual([0, 0, 0]);
  } finally {
    await redis.start();
  }
  // Committed while Redis was away, enqueued by the worker's sweep when it reconnects (the periodic sweep waits 120 s).
  await waitFor(() => to.every((rcpt) => received(rcpt) === 1), 20_000, 'the messages accepted during the outage');
  // And the queue itself works again for new sends.
  const after = `after-${crypto.randomBytes(3).toString('hex')}@sink.test`;
  expect((await h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${s.key}` }, body: message(s.domain, after) })).status).toBe(200);
  await waitFor(() => received(after) === 1, 20_000, 'a message sent after the outage');
}, 60_000);

it('keeps the per-key rate limit and the login throttle in-process while Redis is down', async () => {
  const s = await senderSetup(h);
  const u = await createUser(h);
  await redis.kill();
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${s.key}` }, body: message(s.domain, `limit${i}@sink.test`) });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);

    const codes: unknown[] = [];
    for (let i = 0; i < 11; i++) codes.push((await h.call({ Command: 'user.login', Username: u.username, Password: 'wrong password!' })).ErrorCode);
    expect(codes.slice(0, 10).every((c) => JSON.stringify(c) === '[3]')).toBe(true);
    expect(codes[10]).toEqual([4]);
    // Even the right password is refused while throttled.
    expect((await h.call({ Command: 'user.login', Username: u.username, Password: u.password })).ErrorCode).toEqual([4]);
  } finally {
    await redis.start();
  }
}, 60_000);

it('answers queue.release and queue.retry with what they changed while Redis is down, and the sweeper sends it after', async () => {
  const s = await senderSetup(h);
  const rcpt = `held-${crypto.randomBytes(3).toString('hex')}@sink.test`;
  await redis.kill();
  try {
    expect((await h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${s.key}` }, body: message(s.domain, rcpt) })).status).toBe(200);
    const held = await h.call({ Command: 'queue.hold', SessionID: s.sessionId, DomainID: s.domainId });
    expect(held).toMatchObject({ Success: true, Held: 1 });
    // Committed, then the enqueue failed: the answer is the change, not 503 "retry".
    expect(await h.call({ Command: 'queue.release', SessionID: s.sessionId, DomainID: s.domainId })).toMatchObject({ Success: true, Released: 1 });
    expect(await h.call({ Command: 'queue.retry', SessionID: s.sessionId, DomainID: s.domainId })).toMatchObject({ Success: true, Retried: 1 });
  } finally {
    await redis.start();
  }
  await waitFor(() => received(rcpt) === 1, 20_000, 'the released message');
}, 60_000);

it('loses no message to a FLUSHALL: the sweeper enqueues what the queue forgot', async () => {
  const s = await senderSetup(h);
  const rcpt = `flushed-${crypto.randomBytes(3).toString('hex')}@sink.test`;
  // The first attempt is deferred, so the retry waits in Redis as a delayed job when the flush comes.
  let refuse = true;
  sink.onRcpt = (a) => (a === rcpt && refuse ? smtpError(451, '4.3.0 try later') : undefined);
  const res = await h.request('POST', '/api/v1/email', { headers: { Authorization: `Bearer ${s.key}` }, body: message(s.domain, rcpt) });
  expect(res.status).toBe(200);
  await waitFor(
    async () => (await h.services.db('deliveries').where({ message_id: res.body.MessageID }).first()).status === 'deferred',
    20_000,
    'the deferral',
  );
  const raw = new Redis(redis.url);
  await raw.flushall();
  await raw.quit();
  refuse = false;
  // The periodic sweep (every second, 120 s grace) finds the overdue row; nothing else knows of it any more.
  await h.services
    .db('deliveries')
    .where({ message_id: res.body.MessageID })
    .update({ next_attempt_at: Date.now() - 121_000 });
  await waitFor(() => received(rcpt) === 1, 20_000, 'the flushed delivery');
  sink.onRcpt = undefined;
}, 60_000);
