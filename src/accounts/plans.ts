import type { UserRow } from '../model';
import { CommandError } from '../errors';
import type { RateLimits } from '../ratelimit/limits';

export type PlanName = 'Starter' | 'Professional' | 'Enterprise';

/** Requests an account may make with its account keys (`sk_live_…`), across all of them and every dialect. */
export interface PlanLimits {
  perMinute: number;
  /** What the minute allows in an hour and a day (60× and 1,440×): shown by account stats, never a cap of its own. */
  perHour: number;
  perDay: number;
}

/**
 * The plans: the platform spec's per-minute figures (100 / 500 / 2,000) and nothing else. The spec names no hourly
 * or daily cap, so a client keeping to its minute must never meet one: fixed windows of 20× and 200× the minute
 * (as these once were) stopped a steady Starter client after 20 minutes. Volume is bounded by the sending quotas
 * (LimitEmailSendPerDay / PerPeriod), which answer with their renewal time.
 */
const perMinute = (n: number): PlanLimits => ({ perMinute: n, perHour: n * 60, perDay: n * 1440 });
export const PLANS: Record<PlanName, PlanLimits> = {
  Starter: perMinute(100),
  Professional: perMinute(500),
  Enterprise: perMinute(2_000),
};

export const DEFAULT_PLAN: PlanName = 'Starter';

/** The plan's canonical name for any letter case, or null when it names no plan. */
export function planName(raw: unknown): PlanName | null {
  const s = String(raw ?? '')
    .trim()
    .toLowerCase();
  return (Object.keys(PLANS) as PlanName[]).find((p) => p.toLowerCase() === s) ?? null;
}

export function planOf(user: Pick<UserRow, 'plan'>): { name: PlanName; limits: PlanLimits } {
  const name = planName(user.plan) ?? DEFAULT_PLAN;
  return { name, limits: PLANS[name] };
}

/**
 * Counts one account-key request against the account's plan (in Redis when configured, so across API
 * processes). Throws CommandError 429 with retryAfterSec when the minute is used up (a fixed window: refused
 * requests do not move its end).
 */
export async function enforcePlanLimits(limits: RateLimits, user: UserRow): Promise<void> {
  const plan = planOf(user);
  const verdict = await limits.limit('plan:perMinute', plan.limits.perMinute, 60).consume(`u${user.id}`);
  if (verdict.allowed) return;
  const err = new CommandError(
    429,
    `Rate limit exceeded: the ${plan.name} plan allows ${plan.limits.perMinute} requests per minute. Try again in ${verdict.retryAfterSec} seconds.`,
  );
  err.retryAfterSec = verdict.retryAfterSec;
  throw err;
}
