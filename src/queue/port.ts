import { backoffMs, RetryPolicy } from '../retry/backoff';

/**
 * The queue port: the one interface delivery and webhook work runs through. Production binds it to
 * BullMQ on Redis; the embedded default to an in-process queue with the same semantics (delays,
 * attempts, backoff, job-id de-duplication). The database stays the source of truth: a job only says
 * "look at row N", so a lost in-process queue is refilled by the sweeper from the database.
 */
export interface Backoff {
  type: 'fixed' | 'exponential';
  /** Base delay: fixed waits this long; exponential waits delay × 2^(attempt−1). */
  delayMs: number;
}

export interface JobOptions {
  /** Run no earlier than this many ms from now. */
  delayMs?: number;
  /** Total tries, the first included. Default 1. */
  attempts?: number;
  backoff?: Backoff;
  /** A job id already waiting, delayed or running makes add() a no-op that returns that id. */
  jobId?: string;
}

export interface Job<T> {
  id: string;
  name: string;
  data: T;
  /** Tries finished before this one (0 on the first run). */
  attemptsMade: number;
}

export type Processor<T> = (job: Job<T>) => Promise<void>;

export interface ProcessOptions {
  concurrency?: number;
  /** Called once a job has used up its attempts. */
  onFailed?: (job: Job<unknown>, err: Error) => void;
}

export interface Queue<T = unknown> {
  readonly name: string;
  add(name: string, data: T, opts?: JobOptions): Promise<string>;
  addBulk(jobs: { name: string; data: T; opts?: JobOptions }[]): Promise<string[]>;
  process(handler: Processor<T>, opts?: ProcessOptions): void;
  /**
   * Stops this process taking jobs and waits for its running ones; the queue stays open for add(), and process() may
   * be called again. What a worker's stop() calls, so a stopped worker takes no more jobs even before close().
   */
  stopProcessing(): Promise<void>;
  /** Removes a waiting or delayed job; false when it is running, done or unknown. */
  remove(jobId: string): Promise<boolean>;
  /** Jobs waiting or delayed (not running): what a sweep's duplicates would pile up. */
  waiting(): Promise<number>;
  close(): Promise<void>;
}

export interface QueueFactory {
  queue<T>(name: string): Queue<T>;
  close(): Promise<void>;
}

/** A job's backoff as the one retry rule (src/retry/backoff.ts) reads it. */
export function backoffPolicy(b: Backoff): RetryPolicy {
  return b.type === 'fixed' ? { scheduleMs: [b.delayMs] } : { baseMs: b.delayMs };
}

/** Wait before a failed job's next try; `attemptsMade` counts the tries that failed so far. Both bindings use it. */
export function backoffDelay(b: Backoff | undefined, attemptsMade: number): number {
  return b ? backoffMs(backoffPolicy(b), attemptsMade) : 0;
}
