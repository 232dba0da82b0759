/**
 * Batch sends take turns (src/admission.ts, BATCH_ACCEPT_*): a few run at once per process, the rest wait in line;
 * one more than the line holds is answered 100007 / 503 with Retry-After in the door's envelope and writes nothing
 * (that part, which needs a batch held mid-write, is tests/mysql-only/batch-admission.test.ts).
 */
import supertest from 'supertest';
import { Admission } from '../../src/admission';
import { HardError } from '../../src/errors';
import { Harness, senderSetup, startHarness } from '../helpers/harness';

type Sender = Awaited<ReturnType<typeof senderSetup>>;

let h: Harness;
let s: Sender;

beforeAll(async () => {
  h = await startHarness({ BATCH_ACCEPT_CONCURRENCY: '1', BATCH_ACCEPT_QUEUE: '1' });
  s = await senderSetup(h);
});
afterAll(async () => {
  await h.services.queues.close();
  await h.close();
});

function batch(tag: string, n: number) {
  return {
    Messages: Array.from({ length: n }, (_, i) => ({
      Subject: tag,
      ContentType: 'plain',
      PlainContent: 'Thanks for your order.',
      From: { name: 'Shop', email: `shop@${s.domain}` },
      To: [{ name: 'Bo', email: `bo${i}@recipient.test` }],
    })),
  };
}

async function stored(subject: string): Promise<number> {
  const [{ n }] = await h.services.db('messages').where({ subject }).count({ n: '*' });
  return Number(n);
}

describe('POST /api/v1/email/batch under BATCH_ACCEPT_CONCURRENCY=1, BATCH_ACCEPT_QUEUE=1', () => {
  it('lets small batches (50 messages or fewer) through side by side, as single sends', async () => {
    const tags = Array.from({ length: 6 }, (_, i) => `small batch ${i} ${s.domain}`);
    const replies = await Promise.all(
      tags.map((tag) => supertest(h.app).post('/api/v1/email/batch').set('Authorization', `Bearer ${s.key}`).send(batch(tag, 50))),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    for (const tag of tags) expect(await stored(tag)).toBe(50);
  });
});

describe('Admission', () => {
  const gate = () => {
    let open!: () => void;
    const p = new Promise<void>((r) => (open = r));
    return { p, open };
  };

  it('hands slots out first come first served, and a newcomer does not overtake the line', async () => {
    const a = new Admission({ slots: 1, queue: 5, maxWaitMs: 5000, what: 'jobs' });
    const order: string[] = [];
    const first = gate();
    const runs = [
      a.run(async () => {
        order.push('first');
        await first.p;
      }),
      a.run(async () => void order.push('second')),
      a.run(async () => void order.push('third')),
    ];
    expect(a.active).toBe(1);
    expect(a.waiting).toBe(2);
    first.open();
    await Promise.all(runs);
    expect(order).toEqual(['first', 'second', 'third']);
    expect(a.active).toBe(0);
  });

  it('refuses one waiting past maxWaitMs with 503 and frees its place in line', async () => {
    const a = new Admission({ slots: 1, queue: 1, maxWaitMs: 50, what: 'jobs' });
    const first = gate();
    const running = a.run(() => first.p);
    const late = a.run(async () => 'ran');
    await expect(late).rejects.toMatchObject({ code: 100007, httpStatus: 503, retryAfterSec: 2 });
    await expect(late).rejects.toBeInstanceOf(HardError);
    expect(a.waiting).toBe(0);
    first.open();
    await running;
    await expect(a.run(async () => 'ran')).resolves.toBe('ran');
  });

  it('passes a failure of the work to its caller and gives the slot back', async () => {
    const a = new Admission({ slots: 1, queue: 0, maxWaitMs: 1000, what: 'jobs' });
    await expect(a.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(a.run(async () => 'next')).resolves.toBe('next');
  });
});
