import type { Redis } from 'ioredis';
import type { RateLimits } from '../ratelimit/limits';

/** What a rate gate answers: allowed, or refused until the current window ends (ms since the epoch). */
export type Take = { ok: true } | { ok: false; windowEndsAt: number };

/**
 * A whole per-minute rate as the shortest whole-second window that holds a whole number of sends, so the minute's
 * figure is spread instead of spent in one burst and never exceeded: 300/min → 5 per 1 s; 150/min → 5 per 2 s;
 * 20/min → 1 per 3 s; 37/min → 37 per 60 s.
 */
export function windowFor(perMinute: number): { points: number; windowSec: number } {
  const rate = Math.max(1, Math.floor(perMinute));
  for (let w = Math.max(1, Math.ceil(60 / rate)); w <= 60; w += 1) if ((rate * w) % 60 === 0) return { points: (rate * w) / 60, windowSec: w };
  return { points: rate, windowSec: 60 }; // unreachable: w = 60 always divides
}

export interface RateGate {
  take(key: string, points: number, windowSec: number, now: number): Promise<Take>;
}

/**
 * Fixed windows counted in this process, on the clock it is handed (`now`). Hand-written rather than
 * rate-limiter-flexible's memory limiter because that one reads the wall clock, and the throttle's tests run
 * simulated hours on a controllable clock.
 */
export class LocalRateGate implements RateGate {
  private readonly windows = new Map<string, { start: number; used: number }>();

  async take(key: string, points: number, windowSec: number, now: number): Promise<Take> {
    const ms = windowSec * 1000;
    const start = Math.floor(now / ms) * ms;
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      if (this.windows.size > 10_000) this.windows.clear(); // bounded: a stale window is worth nothing
      w = { start, used: 0 };
      this.windows.set(key, w);
    }
    if (w.used >= points) return { ok: false, windowEndsAt: start + ms };
    w.used += 1;
    return { ok: true };
  }
}

/**
 * The same windows in Redis (rate-limiter-flexible, through RateLimits), so every worker process spends from one
 * budget. While Redis is unreachable the limiter's insurance counts in this process.
 */
export class RedisRateGate implements RateGate {
  constructor(private readonly limits: RateLimits) {}

  async take(key: string, points: number, windowSec: number, now: number): Promise<Take> {
    const v = await this.limits.limit('throttle', points, windowSec).consume(key);
    return v.allowed ? { ok: true } : { ok: false, windowEndsAt: now + v.retryAfterSec * 1000 };
  }
}

/** Connections (sends in flight) per destination. `acquire` answers a release function, or null when full. */
export interface ConnectionGate {
  acquire(key: string, limit: number, now: number): Promise<(() => void) | null>;
}

export class LocalConnectionGate implements ConnectionGate {
  private readonly open = new Map<string, number>();

  async acquire(key: string, limit: number): Promise<(() => void) | null> {
    const n = this.open.get(key) ?? 0;
    if (n >= limit) return null;
    this.open.set(key, n + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    };
  }
}

/**
 * Connections counted across worker processes: a sorted set per destination whose members are the sends in flight,
 * scored by when they lapse (a crashed worker's entries lapse after `leaseMs`). Add first, then count: two workers
 * racing for the last slot may both back off, never both get it. Falls back to this process's count when Redis fails.
 */
export class RedisConnectionGate implements ConnectionGate {
  private seq = 0;
  constructor(
    private readonly redis: Redis,
    private readonly leaseMs: number,
    private readonly local: ConnectionGate = new LocalConnectionGate(),
    private readonly owner = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  ) {}

  async acquire(key: string, limit: number, now: number): Promise<(() => void) | null> {
    const set = `throttle:conn:${key}`;
    const member = `${this.owner}-${(this.seq += 1)}`;
    try {
      const res = await this.redis
        .multi()
        .zremrangebyscore(set, '-inf', now)
        .zadd(set, now + this.leaseMs, member)
        .zcard(set)
        .pexpire(set, this.leaseMs)
        .exec();
      const count = Number(res?.[2]?.[1] ?? 0);
      if (count > limit) {
        await this.redis.zrem(set, member);
        return null;
      }
      return () => void this.redis.zrem(set, member).catch(() => undefined);
    } catch {
      return this.local.acquire(key, limit, now);
    }
  }
}
