import type { Db } from '../db';
import type { CommandContext, Params } from '../command';
import { CommandError } from '../errors';
import type { Knex } from 'knex';
import { leasedSql, shownStatus, stampedDeliveries, STORED_SENDING, WAITING } from './leased';
import { applyFilter, QueueFilter, queueFilterOf, requireSelection } from './queue-filter';

/**
 * The states queue.list shows, as operators name them, and the row statuses behind each. A lease is a waiting row
 * with a stamp (leased.ts): `leased` reads the waiting statuses' rows with one, the waiting states those without.
 */
export const LIST_STATES: Record<string, string[]> = {
  deferred: ['deferred'],
  queued: ['queued'],
  scheduled: ['scheduled'],
  held: ['held'],
  leased: [...WAITING, STORED_SENDING],
  all: [...WAITING, 'held', STORED_SENDING],
};

/**
 * The reads whose rows make up `state`: its statuses, and for a waiting state whether they carry no lease stamp.
 * `leased` is two: the waiting rows with a stamp, along its index (leased.ts stampedDeliveries; through the status
 * indexes it read the waiting backlog, 690-780 ms at 250 leased among 250,000), and the rows an earlier release stored
 * as 'sending', along a status index (none outside a rolling upgrade; a condition on their stamp, `lease_until` = 0,
 * took SQLite along the stamp's index through every unstamped row). One delivery by id: its primary key.
 */
function readsOf(db: Db, state: string, f: QueueFilter): (() => Knex.QueryBuilder)[] {
  if (state === 'leased' && f.deliveryId === undefined)
    return [() => stampedDeliveries(db).whereIn('deliveries.status', WAITING), () => db('deliveries').where('deliveries.status', STORED_SENDING)];
  if (state === 'leased') return [() => db('deliveries').whereRaw(leasedSql('deliveries'))];
  return [
    () => {
      const q = db('deliveries').whereIn('deliveries.status', LIST_STATES[state]);
      return WAITING.includes(state) ? q.where('deliveries.lease_until', 0) : q;
    },
  ];
}

const byNextAttempt = (a: Record<string, any>, b: Record<string, any>) => Number(a.next_attempt_at) - Number(b.next_attempt_at) || Number(a.id) - Number(b.id);

const unix = (ms: unknown) => (ms === null || ms === undefined ? null : Math.floor(Number(ms) / 1000));

/**
 * One page of unfinished deliveries, oldest next attempt first, with the last remote reply and when the next
 * attempt is due (a held delivery's is when it would be due once released).
 */
export async function listQueue(db: Db, f: QueueFilter, state: string, page: number, limit: number) {
  const now = Date.now();
  const reads = readsOf(db, state, f).map((read) => () => applyFilter(db, read(), f, now));
  let total = 0;
  for (const read of reads) total += Number(((await read().count({ n: '*' })) as { n: number | string }[])[0].n);
  const offset = (page - 1) * limit;
  const ordered = (q: Knex.QueryBuilder) =>
    q
      .leftJoin('sender_domains', 'sender_domains.id', 'deliveries.domain_id')
      .orderBy([{ column: 'deliveries.next_attempt_at' }, { column: 'deliveries.id' }])
      .select(
        'deliveries.id',
        'deliveries.message_id',
        'deliveries.user_id',
        'deliveries.domain_id',
        'deliveries.recipient',
        'deliveries.status',
        'deliveries.lease_until',
        'deliveries.attempts',
        'deliveries.last_reply',
        'deliveries.next_attempt_at',
        'deliveries.created_at',
        'deliveries.held_at',
        'deliveries.held_from',
        'deliveries.held_by',
        'sender_domains.domain as sender_domain',
      );
  // Two reads (leased): each one's first offset + limit rows, in order, merged (at most the leased rows in all).
  let rows: Record<string, any>[];
  if (reads.length === 1) rows = (await ordered(reads[0]().limit(limit).offset(offset))) as Record<string, any>[];
  else {
    rows = [];
    for (const read of reads) rows.push(...((await ordered(read().limit(offset + limit))) as Record<string, any>[]));
    rows = rows.sort(byNextAttempt).slice(offset, offset + limit);
  }
  return {
    Deliveries: rows.map((r) => ({
      DeliveryID: Number(r.id),
      MessageID: r.message_id,
      UserID: Number(r.user_id),
      DomainID: Number(r.domain_id),
      SenderDomain: r.sender_domain ?? null,
      Recipient: r.recipient,
      State: shownStatus(r as { status: string; lease_until: number }) === STORED_SENDING ? 'leased' : r.status,
      // HeldBy: `queue` (queue.hold: queue.release lets it go), `suspension` (its sender domain's; the lift does) or
      // `disabled` (its account or domain is switched off; switching on does, and NextAttemptAt is when it fails).
      ...(r.status === 'held' ? { HeldFrom: r.held_from, HeldAt: unix(r.held_at), HeldBy: r.held_by ?? 'queue' } : {}),
      Attempts: Number(r.attempts),
      LastReply: r.last_reply ?? null,
      NextAttemptAt: unix(r.next_attempt_at),
      AgeSeconds: Math.max(0, Math.floor((now - Number(r.created_at)) / 1000)),
    })),
    Total: total,
    Page: page,
    Pages: Math.max(1, Math.ceil(total / limit)),
  };
}

/** Whether the filter's DeliveryID names one of the caller's deliveries (any state). */
export async function deliveryExists(db: Db, f: QueueFilter): Promise<boolean> {
  const q = db('deliveries').where('id', f.deliveryId!);
  if (f.userId !== undefined) q.where('user_id', f.userId);
  return !!(await q.first('id'));
}

/**
 * What retry, hold, release and purge act on: the caller's filter, which must name something (or All=true); a
 * DeliveryID that is not one of the caller's deliveries answers 8, as a missing one would.
 */
export async function queueSelection(p: Params, ctx: CommandContext): Promise<QueueFilter> {
  const f = queueFilterOf(p, ctx);
  requireSelection(p, f, ctx);
  if (f.deliveryId !== undefined && !(await deliveryExists(ctx.db, f))) throw new CommandError(8);
  return f;
}
