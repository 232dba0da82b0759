import type { Redis } from 'ioredis';
import type * as Rlf from 'rate-limiter-flexible';

// The package's index loads all of its ~30 backends (Mongo, MySQL, Dynamo, etc.); these are the three we use, by
// their files, which cuts what every process and every jest test file reads and compiles.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const RateLimiterMemory = require('rate-limiter-flexible/lib/RateLimiterMemory') as typeof Rlf.RateLimiterMemory;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const RateLimiterRedis = require('rate-limiter-flexible/lib/RateLimiterRedis') as typeof Rlf.RateLimiterRedis;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const RateLimiterRes = require('rate-limiter-flexible/lib/RateLimiterRes') as typeof Rlf.RateLimiterRes;

export interface Verdict {
  allowed: boolean;
  /** Seconds until the window frees a point (0 when allowed). */
  retryAfterSec: number;
}

/**
 * A fixed-window counter: `points` per `durationSec` per key. Redis-backed when Redis is configured, so it holds
 * across processes; while Redis is unreachable each process counts on its own (the insurance limiter), so a limit
 * is then per process.
 */
export class Limit {
  constructor(
    private readonly impl: Rlf.RateLimiterAbstract,
    private readonly points: number,
  ) {}

  /** Spends points; refused when the window is already used up. */
  async consume(key: string, points = 1): Promise<Verdict> {
    try {
      await this.impl.consume(key, points);
      return { allowed: true, retryAfterSec: 0 };
    } catch (res) {
      if (res instanceof RateLimiterRes) return { allowed: false, retryAfterSec: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
      throw res;
    }
  }

  /** Looks without spending: refused when the key has no points left. */
  async peek(key: string): Promise<Verdict> {
    const res = await this.impl.get(key);
    if (res && res.remainingPoints <= 0) return { allowed: false, retryAfterSec: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
    return { allowed: true, retryAfterSec: 0 };
  }

  /** Points still to spend in the key's window: all of them when it has spent none. */
  async left(key: string): Promise<number> {
    const res = await this.impl.get(key);
    return res ? Math.max(0, res.remainingPoints) : this.points;
  }

  /** Gives back points spent (an attempt charged up front that turned out not to count). */
  async refund(key: string, points = 1): Promise<void> {
    await this.impl.reward(key, points);
  }

  async reset(key: string): Promise<void> {
    await this.impl.delete(key);
  }
}

export class RateLimits {
  private readonly cache = new Map<string, Limit>();
  constructor(private readonly redis: Redis | null) {}

  limit(name: string, points: number, durationSec: number): Limit {
    const id = `${name}:${points}:${durationSec}`;
    let l = this.cache.get(id);
    if (!l) {
      const opts = { keyPrefix: `rl:${name}`, points, duration: durationSec };
      // insuranceLimiter: rate-limiter-flexible's own fallback, used for any Redis error and, with
      // rejectIfRedisNotReady, at once while the connection is down (no wait for a reconnect).
      l = new Limit(
        this.redis
          ? new RateLimiterRedis({ ...opts, storeClient: this.redis, rejectIfRedisNotReady: true, insuranceLimiter: new RateLimiterMemory(opts) })
          : new RateLimiterMemory(opts),
        points,
      );
      this.cache.set(id, l);
    }
    return l;
  }
}
