/**
 * The `user.senderdomain.*` shape of a sender domain (upstream's user-area API): ids as numeric strings, the
 * record map, options, and the operational figures read from the rollups (so their cost does not grow with volume).
 */
import type { Knex } from 'knex';
import { formatTime } from '../auth/users';
import { countsByDomain, figures, round2 } from '../stats/queries';
import { DAY_MS, HOUR_MS } from '../stats/rollups';
import { DomainRow, parseRecords, presentOptions, recordMap } from './domains';
import { reputationScore } from '../stats/reputation';
import { deletionStartedAt } from './deleting';

export interface Operational {
  Volume7d: number;
  VolumeDelta: string | null;
  Reputation: number | null;
  ReputationBucket: string | null;
  DeliveryRate: number | null;
  BounceRate: number | null;
}

export function reputationBucket(score: number | null): string | null {
  if (score === null) return null;
  return score >= 90 ? 'excellent' : score >= 70 ? 'good' : score >= 50 ? 'fair' : 'poor';
}

/** Trailing-7-day volume change: "+12%", "-3%", "new" (nothing the 7 days before), null (nothing now). */
export function volumeDelta(now: number, before: number): string | null {
  if (now === 0) return null;
  if (before === 0) return 'new';
  const pct = Math.round(((now - before) / before) * 100);
  return `${pct >= 0 ? '+' : ''}${pct}%`;
}

/** The figures of each domain: last 7 days against the 7 before, and rates over the last 30 days. */
export async function operationalFigures(db: Knex, domainIds: number[], at = Date.now()): Promise<Map<number, Operational>> {
  const nowHour = Math.floor(at / HOUR_MS) + 1;
  const window = (days: number, endHour = nowHour) => ({ fromHour: endHour - days * 24, toHour: endHour });
  const [week, prior, month] = await Promise.all([
    countsByDomain(db, domainIds, window(7)),
    countsByDomain(db, domainIds, window(7, nowHour - 7 * 24)),
    countsByDomain(db, domainIds, window(30)),
  ]);
  const out = new Map<number, Operational>();
  for (const id of domainIds) {
    const w = figures(week.get(id)).Sent;
    const m = month.get(id);
    const f = figures(m);
    const complained = m?.get('complained')?.count ?? 0;
    // The CyberPanel dialect's formula (src/stats/reputation.ts) over the last 30 days; null without volume, as upstream.
    const score = f.Sent ? reputationScore({ sent: f.Sent, bounced: f.Bounced, complained }) : null;
    out.set(id, {
      Volume7d: w,
      VolumeDelta: volumeDelta(w, figures(prior.get(id)).Sent),
      Reputation: score,
      ReputationBucket: reputationBucket(score),
      DeliveryRate: f.Sent ? round2((f.Delivered / f.Sent) * 100) : null,
      BounceRate: f.Sent ? round2((f.Bounced / f.Sent) * 100) : null,
    });
  }
  return out;
}

export function presentUserDomain(row: DomainRow, ops?: Operational): Record<string, unknown> {
  return {
    DomainID: String(row.id),
    SenderDomain: row.domain,
    UserID: String(row.user_id),
    CreatedAt: formatTime(row.created_at),
    Status: row.status,
    DeletionStartedAt: deletionStartedAt(row),
    LastVerifiedAt: formatTime(row.last_verified_at),
    VerificationMeta: { DNSRecords: recordMap(parseRecords(row)) },
    PolicyMeta: [],
    Options: presentOptions(row),
    ...(ops ?? {}),
  };
}

/** Per UTC day of the last `days`, days with activity only: `{Y-m-d: {Period, Sent, Delivered, Bounced, Complaints}}`. */
export async function dailyStats(db: Knex, domainId: number, days: number, at = Date.now()): Promise<Record<string, unknown>> {
  const today = Math.floor(at / DAY_MS);
  const rows = (await db('stats_rollup')
    .where({ domain_id: domainId, unit: 'd' })
    .where('bucket', '>', today - days)
    .whereIn('type', ['queued', 'scheduled', 'delivered', 'bounced', 'complained'])
    .select('bucket', 'type', 'count')) as { bucket: number; type: string; count: number }[];
  const byDay = new Map<number, { Sent: number; Delivered: number; Bounced: number; Complaints: number }>();
  for (const r of rows) {
    const d = byDay.get(Number(r.bucket)) ?? byDay.set(Number(r.bucket), { Sent: 0, Delivered: 0, Bounced: 0, Complaints: 0 }).get(Number(r.bucket))!;
    const n = Number(r.count);
    if (r.type === 'queued' || r.type === 'scheduled') d.Sent += n;
    else if (r.type === 'delivered') d.Delivered += n;
    else if (r.type === 'bounced') d.Bounced += n;
    else d.Complaints += n;
  }
  const out: Record<string, unknown> = {};
  for (const day of [...byDay.keys()].sort((a, b) => b - a)) {
    const period = new Date(day * DAY_MS).toISOString().slice(0, 10);
    out[period] = { Period: period, ...byDay.get(day)! };
  }
  return out;
}
