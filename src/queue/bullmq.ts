import type { Queue as BullQueue, Worker, Job as BullJob, MinimalJob } from 'bullmq';
import { lazy } from '../lazy';
import { withDeadline } from '../outage';
import { backoffDelay, Job, JobOptions, ProcessOptions, Processor, Queue, QueueFactory } from './port';

// At the first queue a process uses (src/lazy.ts): BullMQ is some 250 files, and many runs never enqueue.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by the import type above
const bullmq = lazy(() => require('bullmq') as typeof import('bullmq'));

function connectionFrom(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/**
 * A job's backoff goes to BullMQ under a type of ours, so BullMQ asks `retryWait` (the port's rule, shared with the
 * in-process queue) instead of its built-in strategy of the same name.
 */
const BACKOFF_TYPE = 'postern-';

function retryWait(attemptsMade: number, type?: string, _err?: Error, job?: MinimalJob): number {
  const b = job?.opts.backoff;
  const delayMs = typeof b === 'number' ? b : (b?.delay ?? 0);
  return backoffDelay({ type: type === `${BACKOFF_TYPE}fixed` ? 'fixed' : 'exponential', delayMs }, attemptsMade);
}

function bullOptions(opts: JobOptions = {}) {
  return {
    delay: opts.delayMs,
    attempts: opts.attempts ?? 1,
    backoff: opts.backoff ? { type: `${BACKOFF_TYPE}${opts.backoff.type}`, delay: opts.backoff.delayMs } : undefined,
    jobId: opts.jobId,
    removeOnComplete: true,
    removeOnFail: 1000,
  };
}

class BullMqQueue<T> implements Queue<T> {
  private readonly queue: BullQueue;
  private worker: Worker | null = null;

  constructor(
    readonly name: string,
    private readonly connection: ReturnType<typeof connectionFrom>,
    private readonly prefix: string,
    private readonly commandTimeoutMs: number,
  ) {
    // Adding fails at once while Redis is unreachable instead of waiting in ioredis' offline queue (the rows are
    // committed: the sweeper enqueues them once Redis is back). Workers keep BullMQ's own reconnecting connection.
    this.queue = new (bullmq().Queue)(name, {
      connection: { ...connection, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: commandTimeoutMs },
      prefix,
    });
    this.queue.on('error', () => undefined); // reconnect noise; the services' Redis client logs the outage
  }

  /** A queue made while Redis was down waits for its first connection whatever the options say: bounded here. */
  private bounded<R>(p: Promise<R>): Promise<R> {
    return withDeadline(p, Math.max(2000, 2 * this.commandTimeoutMs), 'Redis (queue add)');
  }

  async add(name: string, data: T, opts?: JobOptions): Promise<string> {
    const job = await this.bounded(this.queue.add(name, data, bullOptions(opts)));
    return String(job.id);
  }

  async addBulk(jobs: { name: string; data: T; opts?: JobOptions }[]): Promise<string[]> {
    // One job (the usual case for a group commit) goes without BullMQ's MULTI: building an ioredis pipeline
    // copies every loaded script onto it, which cost more than the job itself.
    if (jobs.length === 1) return [await this.add(jobs[0].name, jobs[0].data, jobs[0].opts)];
    const added = await this.bounded(this.queue.addBulk(jobs.map((j) => ({ name: j.name, data: j.data, opts: bullOptions(j.opts) }))));
    return added.map((j) => String(j.id));
  }

  process(handler: Processor<T>, opts: ProcessOptions = {}): void {
    // A second BullMQ Worker would run beside the first, which close() would then never close.
    if (this.worker) throw new Error(`queue ${this.name} already has its consumer in this process`);
    this.worker = new (bullmq().Worker)(
      this.name,
      async (job: BullJob) => handler({ id: String(job.id), name: job.name, data: job.data as T, attemptsMade: job.attemptsMade } as Job<T>),
      // Short locks: a job held by a dead worker is noticed within seconds, not BullMQ's default half minute.
      {
        connection: this.connection,
        prefix: this.prefix,
        concurrency: opts.concurrency ?? 1,
        lockDuration: 10_000,
        stalledInterval: 5_000,
        maxStalledCount: 5,
        settings: { backoffStrategy: retryWait },
      },
    );
    // Without a listener BullMQ prints every reconnect failure to the console; an outage is logged by the services' Redis client.
    this.worker.on('error', () => undefined);
    this.worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        opts.onFailed?.({ id: String(job.id), name: job.name, data: job.data, attemptsMade: job.attemptsMade }, err);
      }
    });
  }

  async remove(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
    return (await this.queue.remove(jobId)) === 1;
  }

  async waiting(): Promise<number> {
    const counts = await this.bounded(this.queue.getJobCounts('waiting', 'delayed', 'prioritized'));
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async stopProcessing(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    await worker?.close();
  }

  async close(): Promise<void> {
    await this.stopProcessing();
    await this.queue.close();
  }
}

/** Production binding: one BullMQ queue (and worker, once process() is called) per name, keys under REDIS_PREFIX. */
export function bullMqQueues(redisUrl: string, prefix: string, commandTimeoutMs = 1000): QueueFactory {
  const connection = connectionFrom(redisUrl);
  const queues = new Map<string, BullMqQueue<unknown>>();
  return {
    queue<T>(name: string): Queue<T> {
      if (!queues.has(name)) queues.set(name, new BullMqQueue<unknown>(name, connection, `${prefix}:bull`, commandTimeoutMs));
      return queues.get(name) as unknown as Queue<T>;
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}
