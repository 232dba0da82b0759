/** One contract, two bindings: the in-process queue and BullMQ on the real Redis. */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { bullMqQueues } from '../src/queue/bullmq';
import { inProcessQueues } from '../src/queue/in-process';
import type { Job, QueueFactory } from '../src/queue/port';
import { backend, REDIS_URL } from './helpers/harness';

const prefix = `postern-test-q:${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
const binding = backend() === 'mysql' ? 'bullmq' : 'in-process';

function until(cond: () => boolean, ms = 10000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => (cond() ? resolve() : Date.now() > deadline ? reject(new Error('timed out')) : setTimeout(tick, 10));
    tick();
  });
}

let factory: QueueFactory;
let n = 0;
const qname = () => `q${++n}`;

beforeEach(() => {
  factory = binding === 'bullmq' ? bullMqQueues(REDIS_URL, prefix) : inProcessQueues();
});
afterEach(async () => {
  await factory.close();
});
afterAll(async () => {
  if (binding !== 'bullmq') return;
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}:*`);
  if (keys.length) await r.del(...keys);
  await r.quit();
});

describe(`queue port (${binding})`, () => {
  it('refuses a second consumer of one queue, which would run unclosed beside the first (BullMQ) or replace it', async () => {
    const q = factory.queue<{ n: number }>(qname());
    q.process(async () => undefined);
    expect(() => q.process(async () => undefined)).toThrow(/already has its consumer in this process/);
  });

  it('runs added jobs with their data', async () => {
    const q = factory.queue<{ n: number }>(qname());
    const seen: number[] = [];
    q.process(
      async (job) => {
        seen.push(job.data.n);
      },
      { concurrency: 2 },
    );
    await q.add('a', { n: 1 });
    await q.addBulk([
      { name: 'b', data: { n: 2 } },
      { name: 'c', data: { n: 3 } },
    ]);
    await until(() => seen.length === 3);
    expect(seen.sort()).toEqual([1, 2, 3]);
  });

  it('holds a delayed job until its time', async () => {
    const q = factory.queue<null>(qname());
    let ranAt = 0;
    q.process(async () => {
      ranAt = Date.now();
    });
    const added = Date.now();
    await q.add('later', null, { delayMs: 700 });
    await until(() => ranAt > 0);
    expect(ranAt - added).toBeGreaterThanOrEqual(650);
  });

  it('retries a failing job with exponential backoff until it succeeds', async () => {
    const q = factory.queue<null>(qname());
    const tries: number[] = [];
    q.process(async (job) => {
      tries.push(Date.now());
      if (job.attemptsMade < 2) throw new Error('try again');
    });
    await q.add('flaky', null, { attempts: 5, backoff: { type: 'exponential', delayMs: 200 } });
    await until(() => tries.length === 3);
    expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(180);
    expect(tries[2] - tries[1]).toBeGreaterThanOrEqual(380);
  });

  it('reports a job that used up its attempts, once', async () => {
    const q = factory.queue<{ k: string }>(qname());
    const failed: [Job<unknown>, Error][] = [];
    let tries = 0;
    q.process(
      async () => {
        tries += 1;
        throw new Error('permanent');
      },
      { onFailed: (job, err) => failed.push([job, err]) },
    );
    await q.add('doomed', { k: 'v' }, { attempts: 3, backoff: { type: 'fixed', delayMs: 50 } });
    await until(() => failed.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(tries).toBe(3);
    expect(failed).toHaveLength(1);
    expect(failed[0][0].data).toEqual({ k: 'v' });
    expect(failed[0][1].message).toBe('permanent');
  });

  it('removes a delayed job before it runs', async () => {
    const q = factory.queue<null>(qname());
    let ran = 0;
    q.process(async () => {
      ran += 1;
    });
    const id = await q.add('cancel-me', null, { delayMs: 400, jobId: 'job-cancel-1' });
    expect(await q.remove(id)).toBe(true);
    expect(await q.remove('job-unknown')).toBe(false);
    await new Promise((r) => setTimeout(r, 700));
    expect(ran).toBe(0);
  });

  it('does not add a second job under an id that is still pending', async () => {
    const q = factory.queue<number>(qname());
    const seen: number[] = [];
    const a = await q.add('x', 1, { jobId: 'delivery-42', delayMs: 300 });
    const b = await q.add('x', 2, { jobId: 'delivery-42', delayMs: 300 });
    expect(a).toBe('delivery-42');
    expect(b).toBe('delivery-42');
    q.process(async (job) => {
      seen.push(job.data);
    });
    await until(() => seen.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([1]);
  });

  it('never runs more jobs at once than the concurrency', async () => {
    const q = factory.queue<null>(qname());
    let running = 0;
    let peak = 0;
    let done = 0;
    q.process(
      async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 50));
        running -= 1;
        done += 1;
      },
      { concurrency: 3 },
    );
    await q.addBulk(Array.from({ length: 10 }, (_, i) => ({ name: 'c', data: null, opts: { jobId: `c-${i}` } })));
    await until(() => done === 10);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
  });
  it('close() waits for every running job, and returns once the last one ends', async () => {
    const q = factory.queue<{ ms: number }>(qname());
    let started = 0;
    let finished = 0;
    q.process(
      async (job) => {
        started += 1;
        await new Promise((r) => setTimeout(r, job.data.ms));
        finished += 1;
      },
      { concurrency: 3 },
    );
    await q.addBulk([50, 150, 300].map((ms, i) => ({ name: 'w', data: { ms }, opts: { jobId: `w-${i}` } })));
    await until(() => started === 3);
    // Jobs end one by one while close() waits: it must see the last one, not stop at the first.
    const closing = Date.now();
    let limit: NodeJS.Timeout | undefined;
    try {
      await Promise.race([q.close(), new Promise((_, reject) => (limit = setTimeout(() => reject(new Error('close() never returned')), 5000)))]);
    } finally {
      // Not left running: a pending timer keeps the jest worker from exiting at the end of the run.
      clearTimeout(limit);
    }
    expect(finished).toBe(3);
    expect(Date.now() - closing).toBeLessThan(4000);
  });

  it('stopProcessing() waits for the running job, takes no more, keeps the queue open, and a new process() resumes', async () => {
    const q = factory.queue<{ n: number }>(qname());
    const seen: number[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let running = false;
    q.process(async (job) => {
      running = true;
      if (job.data.n === 1) await held;
      seen.push(job.data.n);
    });
    await q.add('a', { n: 1 });
    await until(() => running);
    const stopping = q.stopProcessing();
    setTimeout(release, 100);
    await stopping;
    expect(seen).toEqual([1]);
    await q.add('b', { n: 2 });
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([1]);
    q.process(async (job) => {
      seen.push(job.data.n);
    });
    await until(() => seen.length === 2);
    expect(seen).toEqual([1, 2]);
  });

  it('counts waiting and delayed jobs, not running ones, and a duplicate id adds none', async () => {
    const q = factory.queue<{ n: number }>(qname());
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let running = false;
    q.process(async () => {
      running = true;
      await held;
    });
    await q.add('a', { n: 1 });
    await until(() => running);
    await q.add('b', { n: 2 }, { jobId: 'same' });
    await q.add('b', { n: 2 }, { jobId: 'same' });
    await q.add('c', { n: 3 }, { delayMs: 60_000 });
    expect(await q.waiting()).toBe(2);
    release();
  });
});
