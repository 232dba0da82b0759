import type { UserRow } from '../model';
import { CommandError } from '../errors';
import type { RateLimits } from '../ratelimit/limits';

export type PlanName = 'Starter' | 'Professional' | 'Enterprise';

/** Requests an account may make with its account keys (`sk_live_…`), across all of them and every dialect. */
export interface PlanLimits {
  perMinute: number;
  perHour: number;
  perDay: number;
}

/**
 * The plans. Per-minute figures are the platform spec's (100 / 500 / 2,000); the hourly and daily ones are
 * Postern's (documented in docs/dialects.md), set so each window binds before the next one's pro-rata share.
 */
export const PLANS: Record<PlanName, PlanLimits> = {
  Starter: { perMinute: 100, perHour: 2_000, perDay: 20_000 },
  Professional: { perMinute: 500, perHour: 10_000, perDay: 100_000 },
  Enterprise: { perMinute: 2_000, perHour: 50_000, perDay: 500_000 },
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

const WINDOWS: [keyof PlanLimits, number, string][] = [
  ['perMinute', 60, 'minute'],
  ['perHour', 3600, 'hour'],
  ['perDay', 86_400, 'day'],
];

/**
 * Counts one account-key request against the account's plan (in Redis when configured, so across API
 * processes). Throws CommandError 429 with retryAfterSec when a window is used up; the longest wait wins.
 */
export async function enforcePlanLimits(limits: RateLimits, user: UserRow): Promise<void> {
  const plan = planOf(user);
  const windows = WINDOWS.map(([field, sec]) => limits.limit(`plan:${field}`, plan.limits[field], sec));
  const key = `u${user.id}`;
  const verdicts = await Promise.all(windows.map((w) => w.consume(key)));
  const refused = verdicts.map((v, i) => ({ v, w: WINDOWS[i] })).filter((x) => !x.v.allowed);
  if (!refused.length) return;
  // A refused request is not served: the windows that took it give it back, or a client retrying through a busy
  // minute would spend its hour and its day on requests it never got (only on refusal: no cost to the hot path).
  await Promise.all(windows.map((w, i) => (verdicts[i].allowed ? w.refund(key) : undefined)));
  const worst = refused.reduce((a, b) => (b.v.retryAfterSec > a.v.retryAfterSec ? b : a));
  const err = new CommandError(
    429,
    `Rate limit exceeded: the ${plan.name} plan allows ${plan.limits[worst.w[0]]} requests per ${worst.w[2]}. Try again in ${worst.v.retryAfterSec} seconds.`,
  );
  err.retryAfterSec = worst.v.retryAfterSec;
  throw err;
}
