/**
 * The one backoff rule for everything that retries: deliveries (RETRY_SCHEDULE_SECONDS, a server's "try again in"
 * hint, an 8 h cap), webhook calls (doubling from WEBHOOK_RETRY_BASE_MS, a 2 h cap, ±25 % jitter) and queue jobs
 * (a job's own fixed or exponential backoff, in-process and on BullMQ alike).
 */
export interface RetryPolicy {
  /** Planned waits by retry: the nth retry waits `scheduleMs[n − 1]`, the last entry repeats. Takes precedence over `baseMs`. */
  scheduleMs?: readonly number[];
  /** Without a schedule: the nth retry waits `baseMs · 2^(n − 1)`. */
  baseMs?: number;
  /** Longest wait, applied after a server's hint, before jitter. */
  capMs?: number;
  /** Spreads a burst of retries: the wait is scaled by a uniform factor in [1 − jitter, 1 + jitter]. */
  jitter?: number;
}

/**
 * Milliseconds to wait before retry `retry` (1 = the first retry; 0 counts as 1). `hintMs` is the remote side's own
 * "try again in" wish: it lengthens the planned wait, never shortens it. `random` is injectable for tests.
 */
export function backoffMs(policy: RetryPolicy, retry: number, hintMs?: number | null, random: () => number = Math.random): number {
  const n = Math.max(1, retry);
  const { scheduleMs, baseMs = 0, capMs = Infinity, jitter = 0 } = policy;
  const planned = scheduleMs?.length ? scheduleMs[Math.min(n - 1, scheduleMs.length - 1)] : baseMs * 2 ** (n - 1);
  const wait = Math.min(Math.max(planned, hintMs ?? 0), capMs);
  return Math.round(jitter ? wait * (1 - jitter + random() * 2 * jitter) : wait);
}
