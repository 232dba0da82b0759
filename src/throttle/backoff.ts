import type { Redis } from 'ioredis';
import { classifyReply } from '../delivery/classify';

/**
 * Adaptive backoff (docs/queue-and-throttling.md): a destination that answers "slow down" has its rate halved.
 * - A reply counts when its code is 421, or it is a 4xx whose enhanced status is 4.7.x and whose text speaks of a
 *   rate, a limit, "too many" or throttling (so a 4.7.1 greylisting reply does not count), or one the bounce
 *   classifier puts in its `rate` class.
 * - Each such reply halves the rate again, but at most once per HALVE_SPACING_MS (ten sends in flight that all
 *   hear the same 421 halve it once), down to 1/2^MAX_LEVEL of the configured rate.
 * - THROTTLE_BACKOFF_SECONDS after the last such reply the full rate returns.
 */
export const MAX_LEVEL = 6;
export const HALVE_SPACING_MS = 30_000;

export function isRateLimitReply(code: number | undefined, text: string): boolean {
  const basic = code ?? Number(/^([2-5]\d\d)[ -]/.exec(text)?.[1]);
  if (basic === 421) return true;
  if (!(basic >= 400 && basic < 500)) return false;
  // The bounce classifier's `rate` class knows the providers' wordings (Outlook's 4.7.650 "rate limited", …).
  return (/\b4\.7\.\d{1,3}\b/.test(text) && /rate|limit|too many|throttl/i.test(text)) || classifyReply(basic, text).class === 'rate';
}

interface State {
  level: number;
  /** When the rate was last halved. */
  at: number;
  /** When the full rate returns. */
  until: number;
}

function next(prev: State | undefined, now: number, holdMs: number): State {
  const live = prev && prev.until > now ? prev : undefined;
  if (live && now - live.at < HALVE_SPACING_MS) return { ...live, until: now + holdMs };
  return { level: Math.min(MAX_LEVEL, (live?.level ?? 0) + 1), at: now, until: now + holdMs };
}

/** How many times a destination's rate is halved right now (0 = full rate), and when the full rate returns (0 if it has). */
export interface BackoffLevel {
  level: number;
  until: number;
}

const FULL_RATE: BackoffLevel = { level: 0, until: 0 };

export interface BackoffStore {
  level(key: string, now: number): Promise<BackoffLevel>;
  /** Records a rate-limit reply; answers the new level. */
  bump(key: string, now: number, holdMs: number): Promise<number>;
}

export class LocalBackoff implements BackoffStore {
  private readonly states = new Map<string, State>();

  async level(key: string, now: number): Promise<BackoffLevel> {
    const s = this.states.get(key);
    if (!s || s.until <= now) return FULL_RATE;
    return { level: s.level, until: s.until };
  }

  async bump(key: string, now: number, holdMs: number): Promise<number> {
    const s = next(this.states.get(key), now, holdMs);
    if (this.states.size > 10_000) this.states.clear();
    this.states.set(key, s);
    return s.level;
  }
}

/**
 * The same state in Redis, so every worker slows down when one hears the 421. Each process rereads a key at most
 * once a second; while Redis fails, this process's own state decides.
 */
export class RedisBackoff implements BackoffStore {
  /** Each key's state as last read, and until when that read is trusted (a second). */
  private readonly cache = new Map<string, { state: BackoffLevel; fresh: number }>();
  constructor(
    private readonly redis: Redis,
    private readonly local: BackoffStore = new LocalBackoff(),
  ) {}

  async level(key: string, now: number): Promise<BackoffLevel> {
    const hit = this.cache.get(key);
    if (hit && hit.fresh > now) return hit.state.until > now ? hit.state : FULL_RATE;
    try {
      const raw = await this.redis.get(`throttle:backoff:${key}`);
      const s = raw ? (JSON.parse(raw) as State) : undefined;
      const state = s && s.until > now ? { level: s.level, until: s.until } : FULL_RATE;
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { state, fresh: now + 1000 });
      return state;
    } catch {
      return this.local.level(key, now);
    }
  }

  async bump(key: string, now: number, holdMs: number): Promise<number> {
    await this.local.bump(key, now, holdMs);
    try {
      const raw = await this.redis.get(`throttle:backoff:${key}`);
      const s = next(raw ? (JSON.parse(raw) as State) : undefined, now, holdMs);
      await this.redis.set(`throttle:backoff:${key}`, JSON.stringify(s), 'PX', holdMs);
      this.cache.set(key, { state: { level: s.level, until: s.until }, fresh: now + 1000 });
      return s.level;
    } catch {
      return (await this.local.level(key, now)).level;
    }
  }
}
