import type { Services } from '../command';
import { BackoffStore, isRateLimitReply, LocalBackoff, RedisBackoff } from './backoff';
import { ConnectionGate, LocalConnectionGate, LocalRateGate, RateGate, RedisConnectionGate, RedisRateGate, windowFor } from './gate';
import { Limits, Rule, ruleFor, ThrottleRules } from './rules';

/** The rate a destination without a rule starts from once it answers "slow down" (then halved as any other). */
export const UNRULED_PER_MINUTE = 120;
/** How soon a send refused for want of a free connection tries again (plus up to as much again, spread). */
const CONNECTION_RETRY_MS = 1000;

export type Admission = { ok: true; rule: Rule | null; release(): void } | { ok: false; rule: Rule; retryAt: number; reason: 'rate' | 'connections' };

export interface ThrottleDeps {
  rules: ThrottleRules;
  /** Milliseconds since the epoch; tests pass a controllable clock. */
  clock: () => number;
  rate: RateGate;
  connections: ConnectionGate;
  backoff: BackoffStore;
  /** How long a halving lasts after the last rate-limit reply (THROTTLE_BACKOFF_SECONDS); 0 = no adaptive backoff. */
  backoffMs: number;
}

/**
 * Per-destination throttling (issue 17 §5). `admit` says whether one message may go to a recipient domain now;
 * a refusal carries the time to try again, spread over the destination's rate so that a backlog comes back a few at
 * a time instead of all at the next window. `heard` feeds the destination's replies to the adaptive backoff.
 */
export class Throttle {
  /** Per destination: the next free retry slot handed out to refused sends in this process. */
  private readonly tails = new Map<string, number>();
  constructor(private readonly deps: ThrottleDeps) {}

  /** Whether an MX rule exists: only then does a destination's MX host matter before sending. */
  get needsMx(): boolean {
    return this.deps.rules.rules.some((r) => r.mxSuffix);
  }

  /** The limits a recipient domain is sent under (null: none), e.g. for its connection pool. */
  limitsFor(domain: string, mxHosts: string[] = []): Limits | null {
    return ruleFor(this.deps.rules, domain, mxHosts)?.limits ?? null;
  }

  async admit(domain: string, mxHosts: string[] = []): Promise<Admission> {
    const now = this.deps.clock();
    const found = ruleFor(this.deps.rules, domain, mxHosts);
    const key = found?.name ?? domain.toLowerCase();
    const { level, until } = await this.deps.backoff.level(key, now);
    if (!found && level === 0) return { ok: true, rule: null, release: () => undefined };
    const rule: Rule = found ?? { name: key, domains: [key], limits: { messagesPerMinute: UNRULED_PER_MINUTE } };
    let release = () => undefined as void;
    if (rule.limits.connections) {
      const got = await this.deps.connections.acquire(key, rule.limits.connections, now);
      if (!got) return { ok: false, rule, reason: 'connections', retryAt: now + CONNECTION_RETRY_MS + Math.floor(Math.random() * CONNECTION_RETRY_MS) };
      release = got;
    }
    const perMinute = rule.limits.messagesPerMinute ?? (level > 0 ? UNRULED_PER_MINUTE : undefined);
    if (perMinute) {
      const { points, windowSec } = windowFor(Math.max(1, perMinute / 2 ** level));
      const taken = await this.deps.rate.take(key, points, windowSec, now);
      if (!taken.ok) {
        release();
        const windowMs = windowSec * 1000;
        let retryAt = this.slot(`${key}@${level}`, taken.windowEndsAt, windowMs / points);
        // Slots handed out at a halved rate must not outlast the halving: a backlog queued behind one 421 would wait
        // hours at the slow rate after the full rate came back. Past the end it returns then (spread over a window)
        // and takes a slot at the rate of that time.
        if (level > 0 && retryAt > until) retryAt = Math.max(taken.windowEndsAt, until) + Math.floor(Math.random() * windowMs);
        return { ok: false, rule, reason: 'rate', retryAt };
      }
    }
    return { ok: true, rule, release };
  }

  /** A reply from the destination: a rate-limit one halves its rate for a while. Answers the backoff level, or null. */
  async heard(domain: string, mxHosts: string[], code: number | undefined, text: string): Promise<number | null> {
    if (this.deps.backoffMs <= 0 || !isRateLimitReply(code, text)) return null;
    const key = ruleFor(this.deps.rules, domain, mxHosts)?.name ?? domain.toLowerCase();
    return this.deps.backoff.bump(key, this.deps.clock(), this.deps.backoffMs);
  }

  /**
   * The next retry slot at or after `from`, each slot one send's share of the window later than the last. Keyed by
   * destination and backoff level: a rate that changed starts its own line of slots.
   */
  private slot(key: string, from: number, spacingMs: number): number {
    const at = Math.max(this.tails.get(key) ?? 0, from);
    if (this.tails.size > 10_000) this.tails.clear();
    this.tails.set(key, at + spacingMs);
    return Math.ceil(at);
  }
}

/** The throttle of a worker process: counters in Redis when configured (shared by every worker), else in process. */
export function createThrottle(services: Services, clock: () => number = Date.now): Throttle {
  const { config, redis, limits } = services;
  return new Throttle({
    rules: config.throttleRules,
    clock,
    rate: redis ? new RedisRateGate(limits) : new LocalRateGate(),
    connections: redis ? new RedisConnectionGate(redis, config.leaseSeconds * 1000) : new LocalConnectionGate(),
    backoff: redis ? new RedisBackoff(redis) : new LocalBackoff(),
    backoffMs: config.throttleBackoffSeconds * 1000,
  });
}
