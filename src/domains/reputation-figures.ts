import type { Db } from '../db';
import { HARD_BOUNCES, hourOf } from '../stats/rollups';
import { percentOf } from '../stats/reputation';

/** The window the rates are taken over: the current UTC hour and the 23 before it. */
export const WINDOW_HOURS = 24;

/** A sender domain as the reputation guard reads it. */
export interface GuardedDomain {
  id: number;
  user_id: number;
  status?: string;
  /** Outcomes count from this on (an admin's lift); null: the whole window. */
  reputation_from: number | null;
  /** What the lift's hour held at the lift (JSON Counts, written with reputation_from): that hour counts net of it. */
  reputation_base?: string | null;
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

export type Counts = Record<string, number>;
/** One domain's count of one type in one hour. */
export interface HourRow {
  domain_id: number;
  bucket: number;
  type: string;
  count: number;
}
/** The hourly rollup types the limits use. */
export const GUARD_TYPES = ['delivered', 'bounced', HARD_BOUNCES, 'complained'];
/** Domain ids per rollup query (well under SQLite's bound-parameter limit). */
const IDS_PER_QUERY = 400;

/** The domain's last lift if its hour is in the window, else null: one before the window changes nothing. */
export function liftOf(d: GuardedDomain, now: number): number | null {
  const from = d.reputation_from === null || d.reputation_from === undefined ? null : Number(d.reputation_from);
  return from !== null && hourOf(from) >= hourOf(now) - WINDOW_HOURS + 1 ? from : null;
}

/**
 * The first hour of the window that counts for the domain: none before its last lift. The lift's own hour is one
 * (its rollup row also holds what caused the suspension: it counts net of the base, countFrom).
 */
export function firstHour(d: GuardedDomain, now: number): number {
  const lift = liftOf(d, now);
  return lift === null ? hourOf(now) - WINDOW_HOURS + 1 : hourOf(lift);
}

/** Where a domain's figures start: an hour, and what that hour held before the lift (null: count it whole). */
export interface Start {
  hour: number;
  base: Counts | null;
}

/** The domain's own start: its first hour, net of its lift's base when that hour is the lift's. */
export function startOf(d: GuardedDomain, now: number): Start {
  const lift = liftOf(d, now);
  if (lift === null) return { hour: firstHour(d, now), base: null };
  return { hour: hourOf(lift), base: d.reputation_base ? (JSON.parse(d.reputation_base) as Counts) : null };
}

/** A row's count from the start on: nothing before it, the start's hour net of the base (never below 0). */
export function countFrom(r: HourRow, s: Start): number {
  const bucket = Number(r.bucket);
  if (bucket < s.hour) return 0;
  const n = Number(r.count);
  return bucket === s.hour && s.base ? Math.max(0, n - (s.base[r.type] ?? 0)) : n;
}

/** The domain's counts of the guard's types in one hour, for a lift's base (in the lift's transaction). */
export async function hourCounts(db: Db, domainId: number, hour: number): Promise<Counts> {
  const rows: { type: string; count: number }[] = await db('stats_rollup')
    .where({ domain_id: domainId, unit: 'h', bucket: hour })
    .whereIn('type', GUARD_TYPES)
    .select('type', 'count');
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.count)]));
}

/** The domains' hourly rows of the types the limits use, from hour `from` on (chunked by domain). */
export async function hourRows(db: Db, ids: number[], from: number): Promise<HourRow[]> {
  const out: HourRow[] = [];
  for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
    const rows: HourRow[] = await db('stats_rollup')
      .whereIn('domain_id', ids.slice(i, i + IDS_PER_QUERY))
      .where('unit', 'h')
      .where('bucket', '>=', from)
      .whereIn('type', GUARD_TYPES)
      .select('domain_id', 'bucket', 'type', 'count');
    out.push(...rows);
  }
  return out;
}

/** Rows added up by type, each counted only from `startAt(its domain)` on (countFrom). */
export function sumFrom(rows: HourRow[], startAt: (domainId: number) => Start): Counts {
  const c: Counts = {};
  for (const r of rows) {
    const n = countFrom(r, startAt(Number(r.domain_id)));
    if (n > 0) c[r.type] = (c[r.type] ?? 0) + n;
  }
  return c;
}

/**
 * Each domain's counts over its window, for the domains that had a hard bounce or a complaint in it (one small query
 * first): all a per-domain verdict needs.
 */
export async function flaggedDomainCounts(db: Db, domains: GuardedDomain[], now: number): Promise<Map<number, Counts>> {
  const byDomain = new Map<number, Counts>();
  if (!domains.length) return byDomain;
  const from = new Map(domains.map((d) => [Number(d.id), startOf(d, now)]));
  const earliest = Math.min(...[...from.values()].map((s) => s.hour));
  const flagged: { domain_id: number }[] = await db('stats_rollup')
    .whereIn('domain_id', [...from.keys()])
    .where('unit', 'h')
    .where('bucket', '>=', earliest)
    .whereIn('type', [HARD_BOUNCES, 'complained'])
    .where('count', '>', 0)
    .distinct('domain_id');
  const rows = await hourRows(
    db,
    flagged.map((f) => Number(f.domain_id)),
    earliest,
  );
  for (const r of rows) {
    const id = Number(r.domain_id);
    if (Number(r.bucket) < from.get(id)!.hour) continue;
    const n = countFrom(r, from.get(id)!);
    const c = byDomain.get(id) ?? byDomain.set(id, {}).get(id)!;
    c[r.type] = (c[r.type] ?? 0) + n;
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
 * The accounts that could be over a limit on all their domains added up: those whose whole window (every domain,
 * lifted or not) has enough outcomes and enough hard bounces or complaints for it. A narrower window (a lift, its
 * hour net of its base) only has fewer of each, so an account this leaves out cannot be over; most accounts with a
 * stray bounce are left out here, by a read of the window's hard bounces and complaints per chunk of domains, before
 * any of their hourly rows are read. `kept`: each account's hours of deleted domains in the window
 * (retained-hours.ts), counted as its domains' are.
 */
export async function accountsNearLimits(
  db: Db,
  now: number,
  limits: { minMessages: number; bouncePercent: number; complaintPercent: number; minComplaints: number },
  kept: Map<number, Counts> = new Map(),
): Promise<number[]> {
  const start = hourOf(now) - WINDOW_HOURS + 1;
  // Driven from the domains, each read a range of stats_rollup's key (domain_id, unit, bucket): one over the rollup
  // alone, filtered on bucket, scanned every hour the table ever held (nothing prunes it), every pass.
  const owners = new Map<number, number>(
    ((await db('sender_domains').select('id', 'user_id')) as { id: number; user_id: number }[]).map((d) => [Number(d.id), Number(d.user_id)]),
  );
  const domainIds = [...owners.keys()];
  const flagged = new Set<number>();
  for (let i = 0; i < domainIds.length; i += IDS_PER_QUERY) {
    const rows: { domain_id: number }[] = await db('stats_rollup')
      .whereIn('domain_id', domainIds.slice(i, i + IDS_PER_QUERY))
      .where('unit', 'h')
      .where('bucket', '>=', start)
      .whereIn('type', [HARD_BOUNCES, 'complained'])
      .where('count', '>', 0)
      .distinct('domain_id');
    for (const r of rows) flagged.add(owners.get(Number(r.domain_id))!);
  }
  const near: number[] = [];
  const bad = [...kept].filter(([, c]) => (c[HARD_BOUNCES] ?? 0) > 0 || (c.complained ?? 0) > 0).map(([u]) => u);
  const users = [...new Set([...flagged, ...bad])];
  const domainsOf = new Map<number, number[]>();
  for (const [id, user] of owners) {
    const list = domainsOf.get(user);
    if (list) list.push(id);
    else domainsOf.set(user, [id]);
  }
  for (let i = 0; i < users.length; i += IDS_PER_QUERY) {
    const byUser = new Map<number, Counts>();
    const ids = users.slice(i, i + IDS_PER_QUERY).flatMap((u) => domainsOf.get(u) ?? []);
    for (const r of await hourRows(db, ids, start)) {
      const user = owners.get(Number(r.domain_id))!;
      const c = byUser.get(user) ?? byUser.set(user, {}).get(user)!;
      c[r.type] = (c[r.type] ?? 0) + Number(r.count);
    }
    for (const user of users.slice(i, i + IDS_PER_QUERY)) {
      const f = figuresOf(byUser.get(user) ?? {}, kept.get(user) ?? {});
      if (f.outcomes < limits.minMessages) continue;
      const bounces = limits.bouncePercent > 0 && f.hardBounced >= (limits.bouncePercent / 100) * limits.minMessages;
      const complaints = limits.complaintPercent > 0 && f.complained >= limits.minComplaints;
      if (bounces || complaints) near.push(user);
    }
  }
  return near;
}
