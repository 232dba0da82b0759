import crypto from 'node:crypto';
import { backoffDelay, Job, JobOptions, ProcessOptions, Processor, Queue, QueueFactory } from './port';

interface Entry<T> {
  job: Job<T>;
  opts: JobOptions;
  runAt: number;
  state: 'waiting' | 'active';
  timer?: NodeJS.Timeout;
}

/** The embedded default: jobs live in this process, timers fire them, a failed try is re-scheduled with backoff. */
class InProcessQueue<T> implements Queue<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private handler: Processor<T> | null = null;
  private opts: ProcessOptions = {};
  private active = 0;
  private closed = false;
  private readonly idle = new Set<() => void>();

  constructor(readonly name: string) {}

  async add(name: string, data: T, opts: JobOptions = {}): Promise<string> {
    if (this.closed) throw new Error(`queue ${this.name} is closed`);
    const id = opts.jobId ?? crypto.randomUUID();
    if (this.entries.has(id)) return id;
    const entry: Entry<T> = { job: { id, name, data, attemptsMade: 0 }, opts, runAt: Date.now() + (opts.delayMs ?? 0), state: 'waiting' };
    this.entries.set(id, entry);
    this.schedule(entry);
    return id;
  }

  async addBulk(jobs: { name: string; data: T; opts?: JobOptions }[]): Promise<string[]> {
    const ids: string[] = [];
    for (const j of jobs) ids.push(await this.add(j.name, j.data, j.opts));
    return ids;
  }

  process(handler: Processor<T>, opts: ProcessOptions = {}): void {
    // As the BullMQ binding: one consumer per queue and process (a second would silently replace the first here).
    if (this.handler) throw new Error(`queue ${this.name} already has its consumer in this process`);
    this.handler = handler;
    this.opts = opts;
    this.pump();
  }

  async remove(jobId: string): Promise<boolean> {
    const e = this.entries.get(jobId);
    if (!e || e.state === 'active') return false;
    clearTimeout(e.timer);
    this.entries.delete(jobId);
    return true;
  }

  async waiting(): Promise<number> {
    let n = 0;
    for (const e of this.entries.values()) if (e.state === 'waiting') n += 1;
    return n;
  }

  /** Stops taking jobs and waits for running ones; waiting jobs stay for a later process(). */
  async stopProcessing(): Promise<void> {
    this.handler = null;
    await this.settled();
  }

  /** Stops taking jobs and waits for running ones; jobs still waiting are dropped (the database keeps the truth). */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    await this.settled();
    this.entries.clear();
  }

  private async settled(): Promise<void> {
    if (this.active > 0) await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  private schedule(e: Entry<T>): void {
    const wait = e.runAt - Date.now();
    if (wait > 0) {
      // Node timers cap at 2^31-1 ms (~24.8 days): longer waits re-arm until the job is due.
      e.timer = setTimeout(
        () => {
          e.timer = undefined;
          if (e.runAt - Date.now() > 5) return this.schedule(e);
          e.runAt = Math.min(e.runAt, Date.now()); // timers may fire a millisecond before Date.now() reaches runAt
          this.pump();
        },
        Math.min(wait, 2_147_483_647),
      );
      e.timer.unref?.();
    } else this.pump();
  }

  private pump(): void {
    if (!this.handler || this.closed) return;
    const limit = this.opts.concurrency ?? 1;
    const now = Date.now();
    for (const e of this.entries.values()) {
      if (this.active >= limit) return;
      if (e.state === 'waiting' && e.runAt <= now && !e.timer) void this.run(e);
    }
  }

  private async run(e: Entry<T>): Promise<void> {
    e.state = 'active';
    this.active += 1;
    try {
      await this.handler!({ ...e.job });
      this.entries.delete(e.job.id);
    } catch (err) {
      e.job.attemptsMade += 1;
      if (e.job.attemptsMade < (e.opts.attempts ?? 1) && !this.closed) {
        e.state = 'waiting';
        e.runAt = Date.now() + backoffDelay(e.opts.backoff, e.job.attemptsMade);
        this.schedule(e);
      } else {
        this.entries.delete(e.job.id);
        this.opts.onFailed?.(e.job as Job<unknown>, err instanceof Error ? err : new Error(String(err)));
      }
    } finally {
      this.active -= 1;
      // Only once the last running job is done: clearing the waiters earlier left close() waiting forever when
      // one of several running jobs finished first (an embedded worker hung on SIGTERM).
      if (this.active === 0) {
        for (const resolve of this.idle) resolve();
        this.idle.clear();
      }
      this.pump();
    }
  }
}

export function inProcessQueues(): QueueFactory {
  const queues = new Map<string, InProcessQueue<unknown>>();
  return {
    queue<T>(name: string): Queue<T> {
      if (!queues.has(name)) queues.set(name, new InProcessQueue<unknown>(name));
      return queues.get(name) as unknown as Queue<T>;
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}
