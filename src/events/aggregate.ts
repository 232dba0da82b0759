import type { Db } from '../db';
import { EventFilter, EventScope, filteredEvents, jsonField, recipientDomainSql } from './query';
import { addDays, dayStart, DayRange, daysBetween, localDay } from './time';
import { legacyEventName } from './vocabulary';

/**
 * Counting events: aggrevents' terms buckets and dailyseries' per-day figures. Both GROUP BY over the events
 * table within a date window, through the (domain_id, type, created_at) / (domain_id, created_at) /
 * (user_id, created_at) indexes.
 */

export type AggregateField = 'event' | 'recipient_domain' | 'recipient' | 'tag';

/** Accepted spellings of AggregatedField (case-insensitive), including Octeth's ES field names. */
const FIELD_NAMES: Record<string, AggregateField> = {
  event: 'event',
  type: 'event',
  recipient_domain: 'recipient_domain',
  recipientdomain: 'recipient_domain',
  'recipient-domain': 'recipient_domain',
  'to-domain': 'recipient_domain',
  'message.to-domain': 'recipient_domain',
  domain: 'recipient_domain',
  recipient: 'recipient',
  to: 'recipient',
  'message.headers.to': 'recipient',
  tag: 'tag',
  tags: 'tag',
  'message.tags': 'tag',
};

export function aggregateField(name: unknown): AggregateField | null {
  if (name === undefined || name === null || name === '') return 'event';
  return FIELD_NAMES[String(name).trim().toLowerCase()] ?? null;
}

export interface Bucket {
  key: string;
  doc_count: number;
}

/** Most documents first, then key ascending (the order of an Elasticsearch terms aggregation). */
function topBuckets(counts: Map<string, number>, size: number): Bucket[] {
  return [...counts.entries()]
    .map(([key, doc_count]) => ({ key, doc_count }))
    .sort((a, b) => b.doc_count - a.doc_count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, size);
}

export async function aggregateEvents(db: Db, scope: EventScope, f: EventFilter, field: AggregateField, size: number): Promise<Bucket[]> {
  const counts = new Map<string, number>();
  if (field === 'event') {
    const rows = await filteredEvents(db, scope, f, false).groupBy('events.type').select('events.type as k').count({ n: '*' });
    for (const r of rows) counts.set(legacyEventName(String(r.k)), (counts.get(legacyEventName(String(r.k))) ?? 0) + Number(r.n));
    return topBuckets(counts, size);
  }
  if (field === 'tag') {
    // Tags live in messages.tags as a JSON array; grouping by that text keeps the row count to the number of
    // distinct tag sets, which are then split here.
    const rows = await filteredEvents(db, scope, f, true).groupBy('messages.tags').select('messages.tags as k').count({ n: '*' });
    for (const r of rows) {
      let tags: unknown;
      try {
        tags = JSON.parse(String(r.k ?? '[]'));
      } catch {
        tags = [];
      }
      if (!Array.isArray(tags)) continue;
      for (const t of new Set(tags.map(String))) counts.set(t, (counts.get(t) ?? 0) + Number(r.n));
    }
    return topBuckets(counts, size);
  }
  const expr = field === 'recipient_domain' ? recipientDomainSql(db) : `lower(${jsonField(db, 'recipient')})`;
  const rows = await filteredEvents(db, scope, f, false)
    .whereRaw(`${jsonField(db, 'recipient')} is not null`)
    .select(db.raw(`${expr} as k`))
    .count({ n: '*' })
    .groupBy('k')
    .orderBy([
      { column: 'n', order: 'desc' },
      { column: 'k', order: 'asc' },
    ])
    .limit(size);
  return rows.map((r: Record<string, unknown>) => ({ key: String(r.k), doc_count: Number(r.n) }));
}

export interface DayFigures {
  Sent: number;
  Bounced: number;
  Opened: number;
  Clicked: number;
}

/**
 * Which stored event feeds which dailyseries figure. Sent counts deliveries the recipient's server accepted;
 * Opened and Clicked count unique opens and clicks.
 */
const SERIES: Record<string, keyof DayFigures> = { delivered: 'Sent', bounced: 'Bounced', opened: 'Opened', clicked: 'Clicked' };

/** A JSON `true` as each backend hands it back (MySQL 'true', SQLite 1). */
function isTrue(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 'true';
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Per local day figures over the window's days in `tz`. Counts are grouped in SQL by the widest time slice that never straddles a
 * local midnight (a day in UTC or a fixed-offset zone, an hour or less across DST changes), then folded into
 * days here. Days without any of the four events are omitted.
 */
export async function dailySeries(db: Db, scope: EventScope, range: DayRange, tz: string): Promise<Record<string, DayFigures>> {
  const { from, to } = range;
  let unit = 86_400_000;
  const days = daysBetween(range.startDay, range.endDay) + 1;
  // The midnight after the last day comes from `to`: after 9999-12-31 there is no Y-m-d to name it.
  for (let i = 1; i < days; i++) unit = gcd(unit, dayStart(addDays(range.startDay, i), tz) - from);
  unit = gcd(unit, to + 1 - from);
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(unit) || unit <= 0) throw new Error('bad series window');
  const slice = db.client.config.client === 'mysql2' ? `(events.created_at - ${from}) DIV ${unit}` : `((events.created_at - ${from}) / ${unit})`;
  // Opens and clicks count once per delivery: only the events marked unique (data.unique), as accountstats does.
  const unique = `case when events.type in ('opened', 'clicked') then ${jsonField(db, 'unique')} else null end`;
  const rows = await filteredEvents(db, scope, { from, to, types: Object.keys(SERIES) }, false)
    .select('events.type as t', db.raw(`${slice} as s`), db.raw(`${unique} as u`))
    .count({ n: '*' })
    .groupBy('t', 's', 'u');
  const series: Record<string, DayFigures> = {};
  for (const r of rows) {
    const type = String(r.t);
    if ((type === 'opened' || type === 'clicked') && !isTrue(r.u)) continue;
    const day = localDay(from + Number(r.s) * unit, tz);
    const figures = (series[day] ??= { Sent: 0, Bounced: 0, Opened: 0, Clicked: 0 });
    figures[SERIES[type]] += Number(r.n);
  }
  return Object.fromEntries(
    Object.keys(series)
      .sort()
      .map((d) => [d, series[d]]),
  );
}
