import { cancelledUnsent } from '../events/event-input';
import { recordEvents } from '../events/record';
import type { Knex } from 'knex';
import type { Db } from '../db';
import { walkQueue } from '../delivery/queue-pages';
import { shownStatus } from '../delivery/leased';

/** Not yet handed to a worker: a held delivery (queue control) can be cancelled like a waiting one. */
const CANCELLABLE = ['queued', 'scheduled', 'deferred', 'held'];

const iso = (ms: number | string | null | undefined) => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString());

/**
 * A message's overall status from its deliveries' shown statuses (shownStatus: a leased one is 'sending'): the least
 * advanced one decides while any is pending.
 */
export function messageStatus(statuses: string[]): string {
  const order = ['sending', 'queued', 'deferred', 'scheduled', 'held'];
  for (const s of order) if (statuses.includes(s)) return s;
  if (statuses.every((s) => s === 'delivered')) return 'delivered';
  if (statuses.every((s) => s === 'cancelled')) return 'cancelled';
  if (statuses.some((s) => s === 'delivered')) return 'partially_delivered';
  return statuses.includes('bounced') ? 'bounced' : (statuses[0] ?? 'unknown');
}

/**
 * Events a message lookup lists. A message's events have no bound (every pixel load adds one, and anyone the mail
 * reaches can replay it): 200,000 opens made a 30 MB reply built in seconds. Past it the lookup lists the first ones
 * (the lifecycle comes first) and gives every type's count and first and last time (EventTotals).
 */
export const EVENTS_SHOWN = 1000;

export interface EventTotal {
  Count: number;
  FirstAt: number;
  LastAt: number;
}

async function eventTotals(db: Db, messageId: string): Promise<Record<string, EventTotal>> {
  const rows = await db('events')
    .where({ message_id: messageId })
    .whereNotNull('delivery_id')
    .groupBy('type')
    .select('type')
    .count({ n: '*' })
    .min({ first: 'created_at' })
    .max({ last: 'created_at' });
  return Object.fromEntries(
    rows.map((r: Record<string, unknown>) => [
      String(r.type),
      { Count: Number(r.n), FirstAt: Math.floor(Number(r.first) / 1000), LastAt: Math.floor(Number(r.last) / 1000) },
    ]),
  );
}

/** The message columns presentMessage shows: never `select *`, whose `mime` and `content` are the whole message. */
export const PRESENTED_MESSAGE_COLUMNS = ['id', 'from_email', 'subject', 'tags', 'metadata', 'message_id_header', 'mime_size', 'created_at', 'send_at'];

/** The delivery columns it shows (a delivery's own `mime`, a tracked copy of the message, is not one). */
const PRESENTED_DELIVERY_COLUMNS = [
  'id',
  'recipient',
  'kind',
  'status',
  'lease_until',
  'attempts',
  'last_reply',
  'bounce_class',
  'next_attempt_at',
  'finished_at',
];

export async function presentMessage(db: Db, message: Record<string, any>, withEvents: boolean) {
  const rows: Record<string, any>[] = await db('deliveries').where({ message_id: message.id }).orderBy('id').select(PRESENTED_DELIVERY_COLUMNS);
  const deliveries = rows.map((d) => ({ ...d, status: shownStatus(d as { status: string; lease_until: number }) }));
  // Grouped by delivery in one pass: filtering every event once per recipient costs recipients × events.
  const eventsOf = new Map<number, Record<string, unknown>[]>();
  let totals: Record<string, EventTotal> | null = null;
  // The replies of delivered rows that keep none, when the events read here hold them all (see deliveredReplies).
  let replies: Map<number, string> | null = null;
  if (withEvents) {
    const events = await db('events')
      .where({ message_id: message.id })
      .whereNotNull('delivery_id')
      .orderBy('id')
      .limit(EVENTS_SHOWN + 1)
      .select('delivery_id', 'type', 'created_at', 'data');
    if (events.length > EVENTS_SHOWN) {
      events.length = EVENTS_SHOWN;
      totals = await eventTotals(db, message.id);
    }
    // Events of no one recipient (delivery_id null) are shown by none, as before.
    for (const e of events) {
      const list = eventsOf.get(Number(e.delivery_id));
      const shown = { Event: e.type, LoggedAt: Math.floor(Number(e.created_at) / 1000), Data: JSON.parse(e.data) };
      if (list) list.push(shown);
      else eventsOf.set(Number(e.delivery_id), [shown]);
    }
    if (!totals) replies = repliesOf(events);
  }
  replies ??= await deliveredReplies(db, message.id, deliveries);
  return {
    MessageID: message.id,
    Status: messageStatus(deliveries.map((d: { status: string }) => d.status)),
    From: message.from_email,
    Subject: message.subject,
    Tags: JSON.parse(message.tags),
    Metadata: message.metadata ? JSON.parse(message.metadata) : {},
    MessageIDHeader: message.message_id_header,
    Size: Number(message.mime_size),
    CreatedAt: iso(message.created_at),
    SendAt: iso(message.send_at),
    Recipients: deliveries.map((d: Record<string, any>) => ({
      Email: d.recipient,
      Type: d.kind,
      Status: d.status,
      Attempts: Number(d.attempts),
      LastReply: d.last_reply ?? replies.get(Number(d.id)) ?? null,
      BounceClass: d.bounce_class,
      NextAttemptAt: ['queued', 'deferred', 'scheduled'].includes(d.status) ? iso(d.next_attempt_at) : null,
      FinishedAt: Number(d.finished_at) ? iso(d.finished_at) : null, // 0 (NULL before 20270106000100): not finished
      ...(withEvents ? { Events: eventsOf.get(Number(d.id)) ?? [] } : {}),
    })),
    ...(totals ? { EventsTruncated: true, EventTotals: totals } : {}),
  };
}

/**
 * The replies of delivered rows that keep none (a first attempt's settle leaves `last_reply` NULL so the row is updated
 * in place: migrations/20270106000100_fixed_width_lease.ts), from their `delivered` events. Read only when there are any
 * and presentMessage has not read every event of the message already (a lookup without events, or past the cap).
 */
async function deliveredReplies(db: Db, messageId: string, deliveries: Record<string, any>[]): Promise<Map<number, string>> {
  const ids = deliveries.filter((d) => d.status === 'delivered' && d.last_reply === null).map((d) => Number(d.id));
  if (!ids.length) return new Map();
  return repliesOf(await db('events').where({ message_id: messageId, type: 'delivered' }).whereIn('delivery_id', ids).select('delivery_id', 'type', 'data'));
}

/** The SMTP reply of each delivery's `delivered` event among `events`. */
function repliesOf(events: { delivery_id: unknown; type: string; data: string }[]): Map<number, string> {
  const replies = new Map<number, string>();
  for (const e of events) {
    if (e.type !== 'delivered') continue;
    const reply = (JSON.parse(e.data) as { smtp_reply?: unknown }).smtp_reply;
    if (typeof reply === 'string') replies.set(Number(e.delivery_id), reply);
  }
  return replies;
}

/** Marks the messages' unsent deliveries cancelled (held ones too; not ones being sent right now); returns how many. */
export async function cancelDeliveries(db: Db, where: { message_id: string | string[] }): Promise<number> {
  const ids = Array.isArray(where.message_id) ? where.message_id : [where.message_id];
  return cancelWhere(db, (q) => q.whereIn('message_id', ids), Date.now());
}

/**
 * A sender domain's unsent deliveries cancelled (emailgateway.cleardomainqueue), a page of `size` at a time
 * (src/delivery/queue-pages.ts), each page its own short transaction: one read of a big domain's whole queue inside
 * the transaction outlasted DB_QUERY_TIMEOUT_MS. A call cut short has cancelled part; asked again, it cancels the rest.
 */
export async function cancelDomainQueue(db: Db, size: number, domain: { id: number; user_id: number }): Promise<number> {
  const now = Date.now();
  let cancelled = 0;
  await walkQueue<{ id: number; next_attempt_at: number }>(
    db,
    size,
    ['deliveries_domain_queue_idx'],
    CANCELLABLE,
    (q) => q.where({ 'deliveries.user_id': domain.user_id, 'deliveries.domain_id': domain.id }).select('deliveries.id', 'deliveries.next_attempt_at'),
    async (page) => {
      const ids = page.map((r) => Number(r.id));
      cancelled += await cancelWhere(db, (q) => q.whereIn('id', ids), now);
    },
  );
  return cancelled;
}

/** The unsent, unleased deliveries `narrow` names, cancelled with their events in one transaction; how many. */
async function cancelWhere(db: Db, narrow: (q: Knex.QueryBuilder) => Knex.QueryBuilder, now: number): Promise<number> {
  return db.transaction(async (trx) => {
    // Unleased: a stamp, even an expired one, is a worker's until another lease takes it over (leased.ts).
    const select = narrow(trx('deliveries'))
      .whereIn('status', CANCELLABLE)
      .where('lease_until', 0)
      .select('id', 'message_id', 'domain_id', 'user_id', 'recipient');
    // Lock the rows (MySQL) so a worker cannot lease one between this read and the update below.
    const rows = trx.client.config.client === 'mysql2' ? await select.forUpdate() : await select;
    if (!rows.length) return 0;
    const ids = rows.map((r: { id: number }) => r.id);
    for (let i = 0; i < ids.length; i += 500) {
      await trx('deliveries')
        .whereIn('id', ids.slice(i, i + 500))
        .whereIn('status', CANCELLABLE)
        .update({ status: 'cancelled', finished_at: now, updated_at: now, lease_until: 0, held_from: null, held_at: null, held_by: null });
    }
    await recordEvents(
      trx,
      rows.map((r: Parameters<typeof cancelledUnsent>[0]) => cancelledUnsent(r, now)),
    );
    return rows.length;
  });
}
