import type { Knex } from 'knex';
import { BUCKET_NAMES, SUPPRESSED_LATE } from './rollups';

/**
 * Reads of the rollup tables. Definitions (event types as stored, see src/events/vocabulary.ts):
 * - Sent = accepted for delivery (queued + scheduled; Octeth's accepted-by-oempro).
 * - Delivered = delivered (accepted-by-mta). Bounced = bounced (rejected-by-mta).
 * - Opened / Clicked = unique opens / clicks (the first per delivery, data.unique).
 * - Rates are percentages of Sent with 2 decimals, 0 when Sent is 0.
 * Every figure counts events by the time they happened, in the window asked for.
 */
export interface HourRange {
  fromHour: number;
  toHour: number;
}

export interface Figures {
  Sent: number;
  Delivered: number;
  Bounced: number;
  Opened: number;
  Clicked: number;
}

type TypeCounts = Map<string, { count: number; unique: number }>;

/**
 * Restricts a rollup query to the hours [fromHour, toHour): whole UTC days from the day rows, the hours
 * before the first and after the last whole day from the hour rows.
 */
export function inRange(q: Knex.QueryBuilder, r: HourRange): Knex.QueryBuilder {
  const firstDay = Math.ceil(r.fromHour / 24);
  const endDay = Math.floor(r.toHour / 24);
  return q.where((w) => {
    if (endDay <= firstDay) {
      w.where((x) => x.where('unit', 'h').where('bucket', '>=', r.fromHour).where('bucket', '<', r.toHour));
      return;
    }
    w.where((x) => x.where('unit', 'd').where('bucket', '>=', firstDay).where('bucket', '<', endDay));
    if (r.fromHour < firstDay * 24)
      w.orWhere((x) =>
        x
          .where('unit', 'h')
          .where('bucket', '>=', r.fromHour)
          .where('bucket', '<', firstDay * 24),
      );
    if (endDay * 24 < r.toHour)
      w.orWhere((x) =>
        x
          .where('unit', 'h')
          .where('bucket', '>=', endDay * 24)
          .where('bucket', '<', r.toHour),
      );
  });
}

export const round2 = (x: number): number => Math.round(x * 100) / 100;

export function rate(part: number, whole: number): number {
  return whole > 0 ? round2((part / whole) * 100) : 0;
}

export function figures(c: TypeCounts | undefined): Figures {
  const n = (t: string) => c?.get(t)?.count ?? 0;
  const u = (t: string) => c?.get(t)?.unique ?? 0;
  return { Sent: n('queued') + n('scheduled'), Delivered: n('delivered'), Bounced: n('bounced'), Opened: u('opened'), Clicked: u('clicked') };
}

export function withRates(f: Figures): Figures & { DeliveryRate: number; BounceRate: number; OpenRate: number; ClickRate: number } {
  return {
    ...f,
    DeliveryRate: rate(f.Delivered, f.Sent),
    BounceRate: rate(f.Bounced, f.Sent),
    OpenRate: rate(f.Opened, f.Sent),
    ClickRate: rate(f.Clicked, f.Sent),
  };
}

/** Event counts per domain and type over the hours. */
export async function countsByDomain(db: Knex, domainIds: number[], r: HourRange): Promise<Map<number, TypeCounts>> {
  const out = new Map<number, TypeCounts>();
  if (!domainIds.length) return out;
  const rows = await db('stats_rollup')
    .whereIn('domain_id', domainIds)
    .modify(inRange, r)
    .groupBy('domain_id', 'type')
    .select('domain_id', 'type')
    .sum({ c: 'count', u: 'unique_count' });
  for (const row of rows as { domain_id: number; type: string; c: unknown; u: unknown }[]) {
    const id = Number(row.domain_id);
    const m = out.get(id) ?? out.set(id, new Map()).get(id)!;
    m.set(row.type, { count: Number(row.c), unique: Number(row.u) });
  }
  return out;
}

/** Event counts per type, all the domains together. */
export async function counts(db: Knex, domainIds: number[], r: HourRange): Promise<TypeCounts> {
  const total: TypeCounts = new Map();
  for (const m of (await countsByDomain(db, domainIds, r)).values()) {
    for (const [type, v] of m) {
      const t = total.get(type) ?? total.set(type, { count: 0, unique: 0 }).get(type)!;
      t.count += v.count;
      t.unique += v.unique;
    }
  }
  return total;
}

/** Figures per message tag, tags in name order. */
export async function tagFigures(db: Knex, domainId: number, r: HourRange): Promise<Record<string, Figures>> {
  const rows = await db('stats_tag_rollup')
    .where('domain_id', domainId)
    .modify(inRange, r)
    .groupBy('tag', 'type')
    .select('tag', 'type')
    .sum({ c: 'count', u: 'unique_count' });
  const byTag = new Map<string, TypeCounts>();
  for (const row of rows as { tag: string; type: string; c: unknown; u: unknown }[]) {
    const m = byTag.get(row.tag) ?? byTag.set(row.tag, new Map()).get(row.tag)!;
    m.set(row.type, { count: Number(row.c), unique: Number(row.u) });
  }
  const out: Record<string, Figures> = {};
  for (const tag of [...byTag.keys()].sort()) out[tag] = figures(byTag.get(tag));
  return out;
}

interface TimedRow {
  type: string;
  count: number;
  timed: number;
  sum: number;
  min: number | null;
  max: number | null;
  buckets: number[];
}

function timedRow(row: Record<string, unknown>): TimedRow {
  return {
    type: String(row.type),
    count: Number(row.c),
    timed: Number(row.timed),
    sum: Number(row.secs),
    min: row.smin === null || row.smin === undefined ? null : Number(row.smin),
    max: row.smax === null || row.smax === undefined ? null : Number(row.smax),
    buckets: BUCKET_NAMES.map((_, i) => Number(row[`b${i}`] ?? 0)),
  };
}

function merge(rows: TimedRow[]): TimedRow {
  const out: TimedRow = { type: '', count: 0, timed: 0, sum: 0, min: null, max: null, buckets: BUCKET_NAMES.map(() => 0) };
  for (const r of rows) {
    out.count += r.count;
    out.timed += r.timed;
    out.sum += r.sum;
    if (r.min !== null) out.min = out.min === null ? r.min : Math.min(out.min, r.min);
    if (r.max !== null) out.max = out.max === null ? r.max : Math.max(out.max, r.max);
    r.buckets.forEach((b, i) => (out.buckets[i] += b));
  }
  return out;
}

function timedSelect(db: Knex) {
  return [
    db.raw('SUM(??) AS c', ['count']),
    db.raw('SUM(??) AS timed', ['timed']),
    db.raw('SUM(??) AS secs', ['seconds_sum']),
    db.raw('MIN(??) AS smin', ['seconds_min']),
    db.raw('MAX(??) AS smax', ['seconds_max']),
    ...BUCKET_NAMES.map((_, i) => db.raw(`SUM(??) AS b${i}`, [`b${i}`])),
  ];
}

/** Sent = delivered; Failed = bounced + failed (delivery attempts that ended without delivery). */
const SUMMARY: { status: 'Sent' | 'Failed'; types: string[] }[] = [
  { status: 'Sent', types: ['delivered'] },
  { status: 'Failed', types: ['bounced', 'failed'] },
];

/** recipientdomainstats: totals, delivery seconds and the speed histogram for one recipient domain. */
export async function recipientDomainStats(db: Knex, domainId: number, recipientDomain: string, r: HourRange) {
  const rows: TimedRow[] = (
    await db('stats_recipient_domain_rollup')
      .where({ domain_id: domainId, recipient_domain: recipientDomain })
      .modify(inRange, r)
      .whereIn('type', ['delivered', 'bounced', 'failed'])
      .groupBy('type')
      .select('type', ...timedSelect(db))
  ).map((row: Record<string, unknown>) => timedRow(row));
  const SummaryStats: Record<string, unknown>[] = [];
  const DeliverySpeedHistogram: Record<string, unknown> = {};
  for (const s of SUMMARY) {
    const t = merge(rows.filter((row) => s.types.includes(row.type)));
    SummaryStats.push({
      Status: s.status,
      TotalEmails: t.count,
      AvgDeliverySeconds: t.timed ? round2(t.sum / t.timed) : null,
      MinDeliverySeconds: t.min,
      MaxDeliverySeconds: t.max,
    });
    // Like upstream's grouped query: only buckets that hold mail, in speed order.
    DeliverySpeedHistogram[s.status] = t.buckets
      .map((n, i) => ({ DeliveryBucket: BUCKET_NAMES[i], EmailCount: n, Percentage: rate(n, t.timed) }))
      .filter((b) => b.EmailCount > 0);
  }
  return { SummaryStats, DeliverySpeedHistogram };
}

/**
 * listrecipientdomains: per recipient domain, Sent = delivered, Failed = bounced + failed + suppressed,
 * Sending = max(accepted − delivered − bounced − failed − cancelled − suppressed after queueing, 0); delivery seconds of delivered mail.
 * Sorted by Sent (then name), at most `limit`.
 */
export async function listRecipientDomains(db: Knex, domainId: number, r: HourRange, limit: number) {
  const rows = await db('stats_recipient_domain_rollup')
    .where('domain_id', domainId)
    .modify(inRange, r)
    .groupBy('recipient_domain', 'type')
    .select('recipient_domain', 'type', ...timedSelect(db));
  const byDomain = new Map<string, Map<string, TimedRow>>();
  for (const row of rows as Record<string, unknown>[]) {
    const d = String(row.recipient_domain);
    (byDomain.get(d) ?? byDomain.set(d, new Map()).get(d)!).set(String(row.type), timedRow(row));
  }
  const list = [...byDomain.entries()].map(([Domain, m]) => {
    const n = (t: string) => m.get(t)?.count ?? 0;
    const delivered = m.get('delivered');
    return {
      Domain,
      Sent: n('delivered'),
      Failed: n('bounced') + n('failed') + n('suppressed'),
      Sending: Math.max(n('queued') + n('scheduled') - n('delivered') - n('bounced') - n('failed') - n('cancelled') - n(SUPPRESSED_LATE), 0),
      AvgDeliverySec: delivered && delivered.timed ? round2(delivered.sum / delivered.timed) : null,
      MinDeliverySec: delivered?.min ?? null,
      MaxDeliverySec: delivered?.max ?? null,
    };
  });
  list.sort((a, b) => b.Sent - a.Sent || (a.Domain < b.Domain ? -1 : a.Domain > b.Domain ? 1 : 0));
  return list.slice(0, limit);
}
