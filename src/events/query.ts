import type { Knex } from 'knex';
import type { Db } from '../db';
import { inRange } from '../stats/queries';
import { HARD_BOUNCES } from '../stats/rollups';

/**
 * Reading the events table for getevents, getevents.public, aggrevents, dailyseries and exportevents.
 * Every query is scoped to one sender domain or to one user's events (all of their domains), and is
 * newest first: created_at desc, then id desc, which is the order of the (domain_id, created_at) and
 * (user_id, created_at) indexes (both carry the primary key).
 */

/** One domain (already checked as the caller's) or every event of one user. */
export interface EventScope {
  userId: number;
  domainId?: number;
}

export interface EventFilter {
  /** Epoch ms, inclusive. */
  from?: number;
  to?: number;
  /** Stored event names (events.type). */
  types?: string[];
  messageId?: string;
  terms?: QueryTerm[];
}

export interface EventRow {
  id: number;
  message_id: string;
  domain_id: number;
  type: string;
  created_at: number;
  data: Record<string, unknown>;
  from_email: string | null;
  subject: string | null;
  /** The sender domain's name (exports only). */
  sender_domain?: string | null;
}

// ---------------------------------------------------------------------------------------------------------
// Query grammar (the `Query` parameter of getevents and exportevents)
// ---------------------------------------------------------------------------------------------------------

export type QueryField = 'to' | 'from' | 'subject' | 'id' | 'reply' | 'url' | 'ip' | 'agent';

/** One search term: `field` null means "any field". */
export interface QueryTerm {
  field: QueryField | null;
  text: string;
}

const PREFIXES: Record<string, QueryField> = {
  to: 'to',
  recipient: 'to',
  from: 'from',
  subject: 'subject',
  id: 'id',
  messageid: 'id',
  reply: 'reply',
  smtp: 'reply',
  url: 'url',
  ip: 'ip',
  agent: 'agent',
  ua: 'agent',
};

export const MAX_QUERY_TERMS = 10;

/**
 * Query grammar: whitespace-separated terms, all of which must match (AND). A term is a word or a "quoted
 * phrase", optionally prefixed by a field: `to:` (recipient), `from:`, `subject:`, `id:` (message id),
 * `reply:` (SMTP reply), `url:` (clicked link), `ip:`, `agent:` (user agent). A term without a known prefix
 * matches any of those fields. Matching is a case-insensitive substring match; `%` and `_` are literal.
 * Examples: `invoice`, `to:gmail.com reply:550`, `subject:"order shipped" from:shop@`.
 */
export function parseQuery(text: string): QueryTerm[] {
  const terms: QueryTerm[] = [];
  const token = /(?:([A-Za-z]+):)?(?:"([^"]*)"?|(\S+))/g;
  for (const m of text.matchAll(token)) {
    const prefix = m[1]?.toLowerCase();
    const value = (m[2] ?? m[3] ?? '').trim();
    const field = prefix ? PREFIXES[prefix] : undefined;
    if (field) {
      if (value) terms.push({ field, text: value });
    } else {
      const whole = prefix ? `${m[1]}:${value}` : value;
      if (whole) terms.push({ field: null, text: whole });
    }
  }
  return terms;
}

function isMysql(db: Db | Knex.Transaction): boolean {
  return db.client.config.client === 'mysql2';
}

/** SQL for one string member of events.data (constant keys only). */
export function jsonField(db: Db, key: string): string {
  if (!/^[a-z_]+$/.test(key)) throw new Error(`bad data key ${key}`);
  return isMysql(db) ? `JSON_UNQUOTE(JSON_EXTRACT(events.data, '$.${key}'))` : `json_extract(events.data, '$.${key}')`;
}

/** SQL for the lowercase domain part of data.recipient. */
export function recipientDomainSql(db: Db): string {
  const r = jsonField(db, 'recipient');
  return isMysql(db) ? `LOWER(SUBSTRING_INDEX(${r}, '@', -1))` : `lower(substr(${r}, instr(${r}, '@') + 1))`;
}

function fieldSql(db: Db, field: QueryField): string {
  switch (field) {
    case 'to':
      return jsonField(db, 'recipient');
    case 'from':
      return 'messages.from_email';
    case 'subject':
      return 'messages.subject';
    case 'id':
      return 'events.message_id';
    case 'reply':
      return jsonField(db, 'smtp_reply');
    case 'url':
      return jsonField(db, 'url');
    case 'ip':
      return jsonField(db, 'ip');
    case 'agent':
      return jsonField(db, 'user_agent');
  }
}

const ALL_FIELDS: QueryField[] = ['to', 'from', 'subject', 'id', 'reply', 'url', 'ip', 'agent'];

function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[!%_]/g, (c) => '!' + c)}%`;
}

function needsMessages(f: EventFilter): boolean {
  return !!f.terms?.some((t) => t.field === null || t.field === 'from' || t.field === 'subject');
}

/** events (joined with messages when asked) filtered by scope and filter. */
export function filteredEvents(db: Db, scope: EventScope, f: EventFilter, joinMessages: boolean): Knex.QueryBuilder {
  const q = db('events');
  if (joinMessages || needsMessages(f)) q.leftJoin('messages', 'messages.id', 'events.message_id');
  if (scope.domainId !== undefined) q.where('events.domain_id', scope.domainId);
  else q.where('events.user_id', scope.userId);
  if (f.from !== undefined) q.where('events.created_at', '>=', f.from);
  if (f.to !== undefined) q.where('events.created_at', '<=', f.to);
  if (f.types) {
    if (f.types.length === 1) q.where('events.type', f.types[0]);
    else q.whereIn('events.type', f.types);
  }
  // Ids are UUIDs, written in lowercase: their hex digits are case-insensitive (RFC 9562), so an uppercased id is the same one.
  if (f.messageId !== undefined) q.where('events.message_id', f.messageId.toLowerCase());
  for (const term of f.terms ?? []) {
    const fields = term.field ? [term.field] : ALL_FIELDS;
    const pattern = likePattern(term.text);
    q.where((w) => {
      for (const field of fields) w.orWhereRaw(`lower(${fieldSql(db, field)}) like ? escape '!'`, [pattern]);
    });
  }
  return q;
}

async function scanCount(db: Db, scope: EventScope, f: EventFilter): Promise<number> {
  const [{ n }] = await filteredEvents(db, scope, f, false).count({ n: '*' });
  return Number(n);
}

const HOUR_MS = 3_600_000;
/** Events countEvents reads one by one before the retention window before it trusts the rollups there instead. */
const PURGED_HOURS_SCAN = 10_000;

/** scanCount, or null past `bound` rows (read at most bound + 1). */
async function scanCountUpTo(db: Db, scope: EventScope, f: EventFilter, bound: number): Promise<number | null> {
  const rows = filteredEvents(db, scope, f, false)
    .select(db.raw('1 as one'))
    .limit(bound + 1);
  const [{ n }] = await db.from(rows.as('t')).count({ n: '*' });
  return Number(n) > bound ? null : Number(n);
}

/**
 * How many events match. Without free-text terms or a MessageID the answer comes from the statistics rollups
 * (which count every event in its hour, in the event's own transaction) for the whole hours of the window, and
 * from the events table only for the ragged minutes at its ends: the cost no longer grows with the volume.
 *
 * `keptSince`: with MESSAGE_RETENTION_DAYS the events of purged messages are deleted and their rollups kept, so hours
 * before it are counted from the events left (few), not the rollups: TotalRecords counted every purged event, and
 * a client paging to it read empty pages. (An event recorded after that time for a message created before it, a
 * late open, stays counted in its hour's rollup after its message is purged.)
 */
export async function countEvents(db: Db, scope: EventScope, f: EventFilter, keptSince = 0): Promise<number> {
  if (f.terms?.length || f.messageId !== undefined) return scanCount(db, scope, f);
  const from = f.from ?? 0;
  const to = f.to ?? Date.now() + HOUR_MS; // inclusive
  if (to < from) return 0;
  if (keptSince > from) {
    // The hours before the window: the events left there, when they are few (the purge keeps up); else their kept
    // rollups, as before. Retention just switched on leaves a backlog the purge works through for weeks, and
    // counting it would read it all at every call.
    const edge = Math.min(to, Math.ceil(keptSince / HOUR_MS) * HOUR_MS - 1);
    const left = await scanCountUpTo(db, scope, { ...f, from, to: edge }, PURGED_HOURS_SCAN);
    if (left !== null) return left + (edge < to ? await countEvents(db, scope, { ...f, from: edge + 1, to }) : 0);
  }
  const fromHour = Math.ceil(from / HOUR_MS);
  const toHour = Math.floor((to + 1) / HOUR_MS); // whole hours [fromHour, toHour)
  if (toHour <= fromHour) return scanCount(db, scope, f);
  const domainIds =
    scope.domainId !== undefined
      ? [scope.domainId]
      : ((await db('sender_domains').where({ user_id: scope.userId }).select('id')) as { id: number }[]).map((r) => Number(r.id));
  if (!domainIds.length) return scanCount(db, scope, f);
  const q = db('stats_rollup').whereIn('domain_id', domainIds).modify(inRange, { fromHour, toHour });
  if (f.types) q.whereIn('type', f.types);
  else q.whereNot('type', HARD_BOUNCES);
  const [{ n }] = await q.sum({ n: 'count' });
  const head = fromHour * HOUR_MS > from ? await scanCount(db, scope, { ...f, from, to: fromHour * HOUR_MS - 1 }) : 0;
  const tail = toHour * HOUR_MS <= to ? await scanCount(db, scope, { ...f, from: toHour * HOUR_MS, to }) : 0;
  return Number(n ?? 0) + head + tail;
}

const COLUMNS = [
  'events.id',
  'events.message_id',
  'events.domain_id',
  'events.type',
  'events.created_at',
  'events.data',
  'messages.from_email',
  'messages.subject',
];

function toRow(r: Record<string, any>): EventRow {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(r.data) ?? {};
  } catch {
    data = {};
  }
  return {
    id: Number(r.id),
    message_id: r.message_id,
    domain_id: Number(r.domain_id),
    type: r.type,
    created_at: Number(r.created_at),
    data,
    from_email: r.from_email ?? null,
    subject: r.subject ?? null,
    ...(r.sender_domain !== undefined ? { sender_domain: r.sender_domain } : {}),
  };
}

/**
 * One page by offset (getevents): newest first. The page's ids first, the messages joined only where a search term
 * needs them, then only the page's rows are read and joined (a late join, as messagesByOffset): joined before the
 * OFFSET, every skipped event cost a read of its row and of its message's, so page 5,000 read 250,000 of each.
 */
export async function listEvents(
  db: Db,
  scope: EventScope,
  f: EventFilter,
  offset: number,
  limit: number,
  keptSince = 0,
): Promise<{ total: number; rows: EventRow[] }> {
  const total = await countEvents(db, scope, f, keptSince);
  if (!total || offset >= total) return { total, rows: [] };
  const page = filteredEvents(db, scope, f, false)
    .orderBy('events.created_at', 'desc')
    .orderBy('events.id', 'desc')
    .limit(limit)
    .offset(offset)
    .select('events.id as eid', 'events.created_at as eat');
  const rows = await db
    .from(page.as('p'))
    .join('events', 'events.id', 'p.eid')
    .leftJoin('messages', 'messages.id', 'events.message_id')
    .orderBy('p.eat', 'desc')
    .orderBy('p.eid', 'desc')
    .select(COLUMNS);
  return { total, rows: rows.map(toRow) };
}

/** Where a keyset page stopped: the last row's (created_at, id). */
export interface Cursor {
  created_at: number;
  id: number;
}

/** One keyset page (exportevents): newest first, strictly after `after`, with the sender domain's name. */
export async function eventsAfter(db: Db, scope: EventScope, f: EventFilter, after: Cursor | null, limit: number): Promise<EventRow[]> {
  const q = filteredEvents(db, scope, f, true).leftJoin('sender_domains', 'sender_domains.id', 'events.domain_id');
  if (after) {
    // Written as a range on created_at plus a tie-break so the index range scan stays usable.
    q.where('events.created_at', '<=', after.created_at).where((w) => w.where('events.created_at', '<', after.created_at).orWhere('events.id', '<', after.id));
  }
  const rows = await q
    .orderBy('events.created_at', 'desc')
    .orderBy('events.id', 'desc')
    .limit(limit)
    .select([...COLUMNS, 'sender_domains.domain as sender_domain']);
  return rows.map(toRow);
}
