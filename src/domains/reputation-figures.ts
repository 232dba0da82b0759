import type { Db } from '../db';
import { HARD_BOUNCES, HOUR_MS, hourOf } from '../stats/rollups';
import { percentOf } from '../stats/reputation';

/** The window the rates are taken over: the current UTC hour and the 23 before it. */
export const WINDOW_HOURS = 24;

/** A sender domain as the reputation guard reads it. */
export interface GuardedDomain {
  id: number;
  user_id: number;
  status?: string;
  /** Outcomes count from the first whole hour after this (an admin's lift); null: the whole window. */
  reputation_from: number | null;
}

/** A domain's or an account's outcomes over the window, and the rates the limits apply to. */
export interface ReputationFigures {
  /** Outcomes at the recipients' MTAs: delivered + bounced (any class). */
  outcomes: number;
  /** Bounces that blame the address (class hard): a block, a full mailbox or a refused message say nothing of the list. */
  hardBounced: number;
  delivered: number;
  complained: number;
  bounceRate: number;
  complaintRate: number;
}

type Counts = Record<string, number>;

/** The first hour of the window that counts for the domain: none before its last lift. */
function firstHour(d: GuardedDomain, now: number): number {
  return Math.max(hourOf(now) - WINDOW_HOURS + 1, Math.ceil(Number(d.reputation_from ?? 0) / HOUR_MS));
}

/**
 * Each domain's counts over its window, from the hourly rollups. `flaggedOnly`: only the domains that had a hard
 * bounce or a complaint in it (one small query first), which is all a per-domain verdict needs; an account's sum
 * needs every one of its domains.
 */
export async function windowCounts(db: Db, domains: GuardedDomain[], now: number, flaggedOnly: boolean): Promise<Map<number, Counts>> {
  const byDomain = new Map<number, Counts>();
  if (!domains.length) return byDomain;
  const from = new Map(domains.map((d) => [Number(d.id), firstHour(d, now)]));
  const earliest = Math.min(...from.values());
  let ids = [...from.keys()];
  if (flaggedOnly) {
    const flagged: { domain_id: number }[] = await db('stats_rollup')
      .whereIn('domain_id', ids)
      .where('unit', 'h')
      .where('bucket', '>=', earliest)
      .whereIn('type', [HARD_BOUNCES, 'complained'])
      .where('count', '>', 0)
      .distinct('domain_id');
    ids = flagged.map((f) => Number(f.domain_id));
    if (!ids.length) return byDomain;
  }
  const rows: { domain_id: number; bucket: number; type: string; count: number }[] = await db('stats_rollup')
    .whereIn('domain_id', ids)
    .where('unit', 'h')
    .where('bucket', '>=', earliest)
    .whereIn('type', ['delivered', 'bounced', HARD_BOUNCES, 'complained'])
    .select('domain_id', 'bucket', 'type', 'count');
  for (const r of rows) {
    const id = Number(r.domain_id);
    if (Number(r.bucket) < from.get(id)!) continue;
    const c = byDomain.get(id) ?? byDomain.set(id, {}).get(id)!;
    c[r.type] = (c[r.type] ?? 0) + Number(r.count);
  }
  return byDomain;
}

/** The rates of one domain's counts, or of several added up (an account's). */
export function figuresOf(...counts: Counts[]): ReputationFigures {
  const sum = (k: string) => counts.reduce((n, c) => n + (c[k] ?? 0), 0);
  const delivered = sum('delivered');
  const outcomes = delivered + sum('bounced');
  const hardBounced = sum(HARD_BOUNCES);
  const complained = sum('complained');
  return {
    outcomes,
    hardBounced,
    delivered,
    complained,
    bounceRate: percentOf(hardBounced, outcomes),
    complaintRate: percentOf(complained, delivered),
  };
}

/**
 * The accounts that own a domain (of any status) with a hard bounce or a complaint in the window: the only ones an
 * account's sum can put over a limit.
 */
export async function flaggedAccounts(db: Db, now: number): Promise<number[]> {
  const rows: { user_id: number }[] = await db('stats_rollup')
    .join('sender_domains', 'sender_domains.id', 'stats_rollup.domain_id')
    .where('stats_rollup.unit', 'h')
    .where('stats_rollup.bucket', '>=', hourOf(now) - WINDOW_HOURS + 1)
    .whereIn('stats_rollup.type', [HARD_BOUNCES, 'complained'])
    .where('stats_rollup.count', '>', 0)
    .distinct('sender_domains.user_id');
  return rows.map((r) => Number(r.user_id));
}
