import type { Knex } from 'knex';
import type { EventInput } from '../events/event-input';
import { parseTags } from '../mail/tags';
export { parseTags } from '../mail/tags';
import { isMysql, mysqlInsert, quoteId, Read, readAlone, runInTurn, Stmt } from '../db';

/** Each event is counted in its UTC hour ('h') and its UTC day ('d'); see the migration. */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
const UNITS: ['h' | 'd', number][] = [
  ['h', HOUR_MS],
  ['d', DAY_MS],
];

/** Upper bounds (exclusive, seconds) of the first seven delivery-speed buckets; the eighth is everything above. */
export const BUCKET_LIMITS = [1, 5, 10, 30, 60, 300, 600];
export const BUCKET_NAMES = ['< 1s', '1-5s', '5-10s', '10-30s', '30-60s', '1-5m', '5-10m', '> 10m'];

/**
 * A count kept in stats_rollup beside the event types: the `bounced` events whose class is `hard` (the address is bad,
 * not a block or the message), which the reputation guard judges a list by. Not an event type: a query summing
 * every type of stats_rollup must leave it out (src/events/query.ts).
 */
export const HARD_BOUNCES = 'bounced_hard';

/**
 * A count kept in the recipient-domain rollup beside `suppressed`: the `suppressed` events of deliveries (a recipient
 * suppressed after its message was queued, send-attempt.ts), which listrecipientdomains takes out of Sending. The
 * accept's own `suppressed` events (no delivery) were never queued, so they are not. Not an event type.
 */
export const SUPPRESSED_LATE = 'suppressed_late';

/** Types TagStats shows (Sent = queued + scheduled). */
const TAGGED = new Set(['queued', 'scheduled', 'delivered', 'bounced', 'opened', 'clicked']);
/** Types the recipient-domain rollup keeps; the last three carry delivery seconds. */
const BY_RECIPIENT_DOMAIN = new Set(['queued', 'scheduled', 'suppressed', 'cancelled', 'delivered', 'bounced', 'failed']);
const TIMED = new Set(['delivered', 'bounced', 'failed']);
const COUNTS_UNIQUE = new Set(['opened', 'clicked']);

export function bucketOf(seconds: number): number {
  const i = BUCKET_LIMITS.findIndex((limit) => seconds < limit);
  return i === -1 ? BUCKET_LIMITS.length : i;
}

export function hourOf(ms: number): number {
  return Math.floor(ms / HOUR_MS);
}

function recipientDomain(data: Record<string, unknown>): string | null {
  const r = typeof data.recipient === 'string' ? data.recipient : '';
  const at = r.lastIndexOf('@');
  const d =
    at >= 0
      ? r
          .slice(at + 1)
          .trim()
          .toLowerCase()
      : '';
  return d && d.length <= 253 ? d : null;
}

function secondsOf(data: Record<string, unknown>): number | null {
  const s = Number(data.seconds);
  return data.seconds !== undefined && data.seconds !== null && Number.isFinite(s) && s >= 0 ? Math.round(s) : null;
}

interface CountRow {
  domain_id: number;
  unit: 'h' | 'd';
  bucket: number;
  type: string;
  count: number;
  unique_count: number;
}
interface TagRow extends CountRow {
  tag: string;
}
interface DomainRow {
  domain_id: number;
  recipient_domain: string;
  unit: 'h' | 'd';
  bucket: number;
  type: string;
  count: number;
  timed: number;
  seconds_sum: number;
  seconds_min: number | null;
  seconds_max: number | null;
  b0: number;
  b1: number;
  b2: number;
  b3: number;
  b4: number;
  b5: number;
  b6: number;
  b7: number;
}

/** Rows a batch of events adds to each rollup table, one per distinct key, in key order (a fixed lock order). */
export interface RollupRows {
  counts: CountRow[];
  tags: TagRow[];
  recipientDomains: DomainRow[];
}

/**
 * Groups events into rollup increments. `tagsOf` gives each message's tags (only consulted for types TagStats
 * shows); `secondsFallback` gives seconds for a timed event that arrived without them (DSN bounces).
 */
export function aggregate(
  events: EventInput[],
  tagsOf: (messageId: string) => string[],
  secondsFallback: (e: EventInput) => number | null = () => null,
): RollupRows {
  const counts = new Map<string, CountRow>();
  const tags = new Map<string, TagRow>();
  const rds = new Map<string, DomainRow>();
  for (const e of events) {
    const unique = COUNTS_UNIQUE.has(e.type) && e.data.unique === true ? 1 : 0;
    const tagList = TAGGED.has(e.type) ? tagsOf(e.message_id) : [];
    const rd = BY_RECIPIENT_DOMAIN.has(e.type) ? recipientDomain(e.data) : null;
    const s = rd && TIMED.has(e.type) ? (secondsOf(e.data) ?? secondsFallback(e)) : null;
    const rdTypes = rd === null ? [] : e.type === 'suppressed' && e.delivery_id !== null ? [e.type, SUPPRESSED_LATE] : [e.type];
    for (const [unit, size] of UNITS) {
      const bucket = Math.floor(e.created_at / size);
      for (const type of e.type === 'bounced' && e.data.bounce_class === 'hard' ? [e.type, HARD_BOUNCES] : [e.type]) {
        const hk = `${e.domain_id}\u0000${unit}\u0000${bucket}\u0000${type}`;
        const h = counts.get(hk) ?? counts.set(hk, { domain_id: e.domain_id, unit, bucket, type, count: 0, unique_count: 0 }).get(hk)!;
        h.count += 1;
        h.unique_count += unique;
      }

      for (const tag of tagList) {
        const tk = `${e.domain_id}\u0000${unit}\u0000${bucket}\u0000${tag}\u0000${e.type}`;
        const t = tags.get(tk) ?? tags.set(tk, { domain_id: e.domain_id, unit, bucket, tag, type: e.type, count: 0, unique_count: 0 }).get(tk)!;
        t.count += 1;
        t.unique_count += unique;
      }

      for (const type of rdTypes) {
        const rk = `${e.domain_id}\u0000${rd}\u0000${unit}\u0000${bucket}\u0000${type}`;
        const r =
          rds.get(rk) ??
          rds
            .set(rk, {
              domain_id: e.domain_id,
              recipient_domain: rd!,
              unit,
              bucket,
              type,
              count: 0,
              timed: 0,
              seconds_sum: 0,
              seconds_min: null,
              seconds_max: null,
              b0: 0,
              b1: 0,
              b2: 0,
              b3: 0,
              b4: 0,
              b5: 0,
              b6: 0,
              b7: 0,
            })
            .get(rk)!;
        r.count += 1;
        if (s !== null) {
          r.timed += 1;
          r.seconds_sum += s;
          r.seconds_min = r.seconds_min === null ? s : Math.min(r.seconds_min, s);
          r.seconds_max = r.seconds_max === null ? s : Math.max(r.seconds_max, s);
          countInBucket(r, bucketOf(s));
        }
      }
    }
  }
  const sorted = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  return { counts: sorted(counts), tags: sorted(tags), recipientDomains: sorted(rds) };
}

/**
 * Adds one to the row's histogram column `b<i>`. A store through a computed name (`r[\`b${i}\`]`) made V8 throw away
 * aggregate's optimized code whenever it met a name it had not seen there (a worker's profile: 4 re-optimizations,
 * about 0.7 s of compiler time in one 20,000-message pass); named stores keep one shape.
 */
function countInBucket(r: DomainRow, i: number): void {
  switch (i) {
    case 0:
      r.b0 += 1;
      break;
    case 1:
      r.b1 += 1;
      break;
    case 2:
      r.b2 += 1;
      break;
    case 3:
      r.b3 += 1;
      break;
    case 4:
      r.b4 += 1;
      break;
    case 5:
      r.b5 += 1;
      break;
    case 6:
      r.b6 += 1;
      break;
    default:
      r.b7 += 1;
  }
}

/** `col = col + new col` etc. in each dialect's spelling of "the value this insert proposed". */
function mergeSpec(db: Knex | Knex.Transaction, sums: string[], mins: string[] = [], maxes: string[] = []): Record<string, Knex.Raw> {
  const mysql = isMysql(db);
  const incoming = (c: string) => (mysql ? db.raw('VALUES(??)', [c]) : db.raw('excluded.??', [c]));
  const out: Record<string, Knex.Raw> = {};
  for (const c of sums) out[c] = db.raw('?? + ?', [c, incoming(c)]);
  // LEAST/GREATEST (MySQL) and min/max (SQLite) are NULL when either side is; COALESCE keeps the known one.
  for (const c of mins) out[c] = db.raw(`COALESCE(${mysql ? 'LEAST' : 'MIN'}(??, ?), ??, ?)`, [c, incoming(c), c, incoming(c)]);
  for (const c of maxes) out[c] = db.raw(`COALESCE(${mysql ? 'GREATEST' : 'MAX'}(??, ?), ??, ?)`, [c, incoming(c), c, incoming(c)]);
  return out;
}

const CHUNK = 500;
const BUCKET_COLUMNS = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7'];

/**
 * MySQL's spelling of the same upsert as plain SQL (the hot path runs one per table per group commit):
 * `INSERT … ON DUPLICATE KEY UPDATE c = c + VALUES(c)`, LEAST/GREATEST for the extremes (NULL-safe).
 * Null when the rows need the builder.
 */
function mysqlUpsert(db: Knex | Knex.Transaction, table: string, rows: object[], sums: string[], mins: string[] = [], maxes: string[] = []): Stmt | null {
  const q = quoteId;
  const sets = [
    ...sums.map((c) => `${q(c)} = ${q(c)} + VALUES(${q(c)})`),
    ...mins.map((c) => `${q(c)} = COALESCE(LEAST(${q(c)}, VALUES(${q(c)})), ${q(c)}, VALUES(${q(c)}))`),
    ...maxes.map((c) => `${q(c)} = COALESCE(GREATEST(${q(c)}, VALUES(${q(c)})), ${q(c)}, VALUES(${q(c)}))`),
  ];
  return mysqlInsert(db, table, rows as Record<string, unknown>[], `on duplicate key update ${sets.join(', ')}`);
}

/** The upserts that add the increments: one statement per table (per 500 keys) that has any. Built, not run. */
export function rollupStatements(db: Knex | Knex.Transaction, rows: RollupRows): Stmt[] {
  const out: Stmt[] = [];
  for (let i = 0; i < rows.counts.length; i += CHUNK) {
    const chunk = rows.counts.slice(i, i + CHUNK);
    out.push(
      mysqlUpsert(db, 'stats_rollup', chunk, ['count', 'unique_count']) ??
        db('stats_rollup')
          .insert(chunk)
          .onConflict(['domain_id', 'unit', 'bucket', 'type'])
          .merge(mergeSpec(db, ['count', 'unique_count'])),
    );
  }
  for (let i = 0; i < rows.tags.length; i += CHUNK) {
    const chunk = rows.tags.slice(i, i + CHUNK);
    out.push(
      mysqlUpsert(db, 'stats_tag_rollup', chunk, ['count', 'unique_count']) ??
        db('stats_tag_rollup')
          .insert(chunk)
          .onConflict(['domain_id', 'unit', 'bucket', 'tag', 'type'])
          .merge(mergeSpec(db, ['count', 'unique_count'])),
    );
  }
  for (let i = 0; i < rows.recipientDomains.length; i += CHUNK) {
    const chunk = rows.recipientDomains.slice(i, i + CHUNK);
    const sums = ['count', 'timed', 'seconds_sum', ...BUCKET_COLUMNS];
    out.push(
      mysqlUpsert(db, 'stats_recipient_domain_rollup', chunk, sums, ['seconds_min'], ['seconds_max']) ??
        db('stats_recipient_domain_rollup')
          .insert(chunk)
          .onConflict(['domain_id', 'recipient_domain', 'unit', 'bucket', 'type'])
          .merge(mergeSpec(db, sums, ['seconds_min'], ['seconds_max'])),
    );
  }
  return out;
}

/** Adds the increments: one upsert statement per table (per 500 keys) that has any. */
export async function writeRollups(db: Knex | Knex.Transaction, rows: RollupRows): Promise<void> {
  await runInTurn(rollupStatements(db, rows));
}

/** Keeps the statistics rollups current as events are recorded (called inside the event's transaction). */
export async function applyRollups(trx: Knex | Knex.Transaction, events: EventInput[], knownTags?: Map<string, string[]>): Promise<void> {
  await runInTurn(await planRollups(trx, events, knownTags));
}

/**
 * What applyRollups writes, as statements for the caller to run (with the event rows, in one round trip where
 * the database allows). The reads it needs (tags, acceptance times) are made here.
 */
export async function planRollups(
  trx: Knex | Knex.Transaction,
  events: EventInput[],
  knownTags?: Map<string, string[]>,
  read: Read = readAlone,
): Promise<Stmt[]> {
  if (!events.length) return [];
  const tagMap = new Map<string, string[]>();
  for (const [id, tags] of knownTags ?? []) {
    const clean = [...new Set(tags.filter((t) => t !== '' && t.length <= 100))];
    if (clean.length) tagMap.set(id, clean);
  }
  const tagged = [...new Set(events.filter((e) => TAGGED.has(e.type) && !knownTags?.has(e.message_id)).map((e) => e.message_id))];
  for (let i = 0; i < tagged.length; i += CHUNK) {
    const rows = (await read(
      trx('messages')
        .whereIn('id', tagged.slice(i, i + CHUNK))
        .select('id', 'tags'),
    )) as { id: string; tags: unknown }[];
    for (const r of rows as { id: string; tags: unknown }[]) {
      const tags = parseTags(r.tags);
      if (tags.length) tagMap.set(r.id, tags);
    }
  }
  // Outcomes reported later by DSN carry no seconds: measure them from the delivery's acceptance.
  const untimed = [
    ...new Set(events.filter((e) => TIMED.has(e.type) && e.delivery_id !== null && secondsOf(e.data) === null).map((e) => e.delivery_id as number)),
  ];
  const acceptedAt = new Map<number, number>();
  if (untimed.length) {
    const rows = (await read(trx('deliveries').whereIn('id', untimed).select('id', 'created_at'))) as { id: number; created_at: number }[];
    for (const r of rows as { id: number; created_at: number }[]) acceptedAt.set(Number(r.id), Number(r.created_at));
  }
  const rows = aggregate(
    events,
    (id) => tagMap.get(id) ?? [],
    (e) => {
      const at = e.delivery_id === null ? undefined : acceptedAt.get(e.delivery_id);
      return at === undefined ? null : Math.max(0, Math.round((e.created_at - at) / 1000));
    },
  );
  return rollupStatements(trx, rows);
}
