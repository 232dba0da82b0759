/**
 * Batch sends take turns (src/admission.ts, BATCH_ACCEPT_*): a few run at once per process, the rest wait in line;
 * one more than the line holds is answered 100007 / 503 with Retry-After in the door's envelope and writes nothing.
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
  it('runs one batch, lines up one, answers the rest 503 with Retry-After, and the refused ones write nothing', async () => {
    const tags = Array.from({ length: 6 }, (_, i) => `admission ${i} ${s.domain}`);
    const replies = await Promise.all(
      tags.map((tag) => supertest(h.app).post('/api/v1/email/batch').set('Authorization', `Bearer ${s.key}`).send(batch(tag, 200))),
    );
    const accepted = tags.filter((_, i) => replies[i].status === 200);
    const refused = tags.filter((_, i) => replies[i].status === 503);
    expect(accepted.length + refused.length).toBe(6);
    // The first always runs and one always waits for it; what arrives while both are taken is refused.
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of replies.filter((x) => x.status === 503)) {
      expect(r.headers['retry-after']).toBe('2');
      expect(r.body).toEqual({ Errors: [{ Code: 100007, Message: expect.stringContaining('nothing of this request was written') }] });
    }
    for (const r of replies.filter((x) => x.status === 200)) expect(r.body).toMatchObject({ Total: 200, Accepted: 200, Rejected: 0 });
    for (const tag of accepted) expect(await stored(tag)).toBe(200);
    for (const tag of refused) expect(await stored(tag)).toBe(0);
  });

  it('answers the refusal on /api.php in the legacy envelope', async () => {
    const tags = Array.from({ length: 6 }, (_, i) => `legacy admission ${i} ${s.domain}`);
    const replies = await Promise.all(
      tags.map((tag) =>
        supertest(h.app)
          .post('/api.php')
          .send({ Command: 'emailgateway.sendbatch', SenderAPIKey: s.key, ...batch(tag, 200) }),
      ),
    );
    const refused = replies.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) expect(r.body).toMatchObject({ Success: false, ErrorCode: 100007 });
    for (const r of replies.filter((x) => x.status !== 503)) expect(r.body).toMatchObject({ Success: true, Accepted: 200 });
  });

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
