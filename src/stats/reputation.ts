import { round2 } from './queries';

/**
 * A sending reputation score from 0 to 100, computed from one period's bounce and complaint rates (percent of
 * the mail accepted in it):
 *
 *   score = 100 − min(50, 5 × bounce%) − min(50, 100 × complaint%), rounded, never below 0
 *
 * so a 10 % bounce rate or a 0.5 % complaint rate alone costs 50 points: the levels at which the large mailbox
 * providers and ESPs (e.g. Amazon SES's review thresholds of 5 % and 0.1 %, suspension at 10 % and 0.5 %) treat a
 * sender as abusive. No mail yet scores 100.
 */
export function reputationScore(f: { sent: number; bounced: number; complained: number }): number {
  if (f.sent <= 0) return 100;
  const bounce = (f.bounced / f.sent) * 100;
  const complaint = (f.complained / f.sent) * 100;
  return Math.max(0, Math.round(100 - Math.min(50, 5 * bounce) - Math.min(50, 100 * complaint)));
}

/** A percentage of `whole` with 2 decimals (0 when whole is 0). */
export function percentOf(part: number, whole: number): number {
  return whole > 0 ? round2((part / whole) * 100) : 0;
}
