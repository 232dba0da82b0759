/**
 * Batch admission through the doors (src/admission.ts; its unit tests are tests/admission.test.ts): with one slot and a line of one, a batch held mid-write keeps
 * the slot, one more waits, and the rest are refused at once with 100007 / 503 and Retry-After in the door's envelope,
 * writing nothing. The hold is a MariaDB table lock on `pending_batches` (where a batch of more than 50 recipients is
 * written, as one row) taken from another connection, so the test does not depend on how fast a batch is written.
 */
import type { Knex } from 'knex';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
let s: Sender;

beforeAll(async () => {
  // Statements blocked by the lock must wait for it, not time out into a 503 of their own.
  h = await startHarness({ BATCH_ACCEPT_CONCURRENCY: '1', BATCH_ACCEPT_QUEUE: '1', DB_QUERY_TIMEOUT_MS: '30000' });
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

function batch(tag: string, n: number, domain = s.domain) {
  return {
    Messages: Array.from({ length: n }, (_, i) => ({
      Subject: tag,
      ContentType: 'plain',
      PlainContent: 'Thanks for your order.',
      From: { name: 'Shop', email: `shop@${domain}` },
      To: [{ name: 'Bo', email: `bo${i}@recipient.test` }],
    })),
  };
}

async function stored(subject: string): Promise<number> {
  // A big batch is one pending row until a worker or a read of the account's mail expands it: read through the door first.
  expect((await h.request('GET', '/api/v1/emails', { headers: { Authorization: `Bearer ${s.key}` } })).status).toBe(200);
  const [{ n }] = await h.services.db('messages').where({ subject }).count({ n: '*' });
  return Number(n);
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

type Reply = { status: number; headers: Record<string, string>; body: any };

/**
 * Runs `work` with `pending_batches` locked from a connection of its own, once `first` (started inside) waits on the
 * lock: the first batch then holds the only slot for as long as `work` wants. `unlock` lets it go on; so does the end.
 */
async function whileHeld<T>(db: Knex, first: () => Promise<Reply>, work: (held: Promise<Reply>, unlock: () => Promise<void>) => Promise<T>): Promise<T> {
  const conn = await db.client.acquireConnection();
  const unlock = async () => {
    await db
      .raw('UNLOCK TABLES')
      .connection(conn)
      .catch(() => undefined);
  };
  try {
    await db.raw('LOCK TABLES `pending_batches` WRITE').connection(conn);
    const held = first();
    await until('the first batch to wait on the lock', async () => {
      const [rows] = await db.raw("select count(*) as n from information_schema.PROCESSLIST where STATE like 'Waiting for table%'");
      return Number(rows[0].n) > 0;
    });
    return await work(held, unlock);
  } finally {
    await unlock();
    await db.client.releaseConnection(conn);
  }
}

/**
 * Sends six batches: the first is held inside its write (so it keeps the only slot), then five more arrive together.
 * Resolves every reply once the lock is let go; `refusedEarly` counts the replies that came while the lock was held.
 */
async function contend(send: (tag: string) => Promise<Reply>, label: string): Promise<{ tags: string[]; replies: Reply[]; refusedEarly: number }> {
  const tags = Array.from({ length: 6 }, (_, i) => `${label} ${i} ${s.domain}`);
  return whileHeld(
    h.services.db,
    () => send(tags[0]),
    async (first, unlock) => {
      let answered = 0;
      const rest = tags.slice(1).map((t) => send(t).then((r) => (answered++, r)));
      // One of the five takes the place in line and waits; the other four must be answered while the lock still holds.
      await until('four refusals', async () => answered >= 4);
      const refusedEarly = answered;
      await unlock();
      return { tags, replies: await Promise.all([first, ...rest]), refusedEarly };
    },
  );
}

describe('batch sends under BATCH_ACCEPT_CONCURRENCY=1, BATCH_ACCEPT_QUEUE=1', () => {
  it('POST /api/v1/email/batch: one runs, one waits in line, the rest get 503 with Retry-After and write nothing', async () => {
    const post = (tag: string) =>
      h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: batch(tag, 200) }).then((r) => r);
    const { tags, replies, refusedEarly } = await contend(post, 'admission');
    expect(refusedEarly).toBe(4);
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 503, 503, 503, 503]);
    expect(replies[0].status).toBe(200);
    for (const r of replies.filter((x) => x.status === 503)) {
      expect(r.headers['retry-after']).toBe('2');
      expect(r.body).toEqual({ Errors: [{ Code: 100007, Message: expect.stringContaining('nothing of this request was written') }] });
    }
    for (const [i, r] of replies.entries()) {
      if (r.status === 200) expect(r.body).toMatchObject({ Total: 200, Accepted: 200, Rejected: 0 });
      expect(await stored(tags[i])).toBe(r.status === 200 ? 200 : 0);
    }
  });

  it('/api.php answers the refusal in the legacy envelope', async () => {
    const post = (tag: string) =>
      h.request('POST', '/api.php', { body: { Command: 'emailgateway.sendbatch', SenderAPIKey: s.key, ...batch(tag, 200) } }).then((r) => r);
    const { replies } = await contend(post, 'legacy admission');
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 503, 503, 503, 503]);
    for (const r of replies.filter((x) => x.status === 503)) expect(r.body).toMatchObject({ Success: false, ErrorCode: 100007 });
    for (const r of replies.filter((x) => x.status !== 503)) expect(r.body).toMatchObject({ Success: true, Accepted: 200 });
  });

  it('lets small batches (50 messages or fewer) through side by side, as single sends', async () => {
    const tags = Array.from({ length: 6 }, (_, i) => `small batch ${i} ${s.domain}`);
    const replies = await Promise.all(
      tags.map((tag) => h.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${s.key}` }, body: batch(tag, 50) })),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    for (const tag of tags) expect(await stored(tag)).toBe(50);
  });
});

describe('BATCH_ACCEPT_WAIT_SECONDS=1', () => {
  it('answers the batch waiting in line with 503 once it has waited a second, while the one ahead of it still runs', async () => {
    const short = await startHarness({ BATCH_ACCEPT_CONCURRENCY: '1', BATCH_ACCEPT_QUEUE: '1', BATCH_ACCEPT_WAIT_SECONDS: '1', DB_QUERY_TIMEOUT_MS: '30000' });
    try {
      const own = await senderSetup(short);
      const post = (tag: string) =>
        short.request('POST', '/api/v1/email/batch', { headers: { Authorization: `Bearer ${own.key}` }, body: batch(tag, 200, own.domain) }).then((r) => r);
      await whileHeld(
        short.services.db,
        () => post(`held ${own.domain}`),
        async (first, unlock) => {
          const started = Date.now();
          const waiting = await post(`in line ${own.domain}`);
          const waited = Date.now() - started;
          expect(waiting.status).toBe(503);
          expect(waiting.headers['retry-after']).toBe('2');
          expect(waiting.body).toEqual({ Errors: [{ Code: 100007, Message: expect.stringContaining('nothing of this request was written') }] });
          // It waited its second in line (the default would hold it 30), then gave up with the lock still held.
          expect(waited).toBeGreaterThanOrEqual(950);
          expect(waited).toBeLessThan(10_000);
          await unlock();
          expect((await first).status).toBe(200);
        },
      );
    } finally {
      await short.services.queues.close();
      await short.close();
    }
  });
});
