import type { Db } from '../db';
import type { CommandContext, Params } from '../command';
import { CommandError } from '../errors';
import type { Knex } from 'knex';
import { leasedSql, shownStatus, STORED_SENDING, WAITING } from './leased';
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

/** The rows of `state`: its statuses, and for a waiting state or `leased` whether they carry a lease stamp. */
function inState(q: Knex.QueryBuilder, state: string): Knex.QueryBuilder {
  q.whereIn('deliveries.status', LIST_STATES[state]);
  if (state === 'leased') q.whereRaw(leasedSql('deliveries'));
  else if (WAITING.includes(state)) q.where('deliveries.lease_until', 0);
  return q;
}

const unix = (ms: unknown) => (ms === null || ms === undefined ? null : Math.floor(Number(ms) / 1000));

/**
 * One page of unfinished deliveries, oldest next attempt first, with the last remote reply and when the next
 * attempt is due (a held delivery's is when it would be due once released).
 */
export async function listQueue(db: Db, f: QueueFilter, state: string, page: number, limit: number) {
  const now = Date.now();
  const base = () => applyFilter(db, inState(db('deliveries'), state), f, now);
  const [{ n }] = (await base().count({ n: '*' })) as { n: number | string }[];
  const rows = (await base()
    .leftJoin('sender_domains', 'sender_domains.id', 'deliveries.domain_id')
    .orderBy([{ column: 'deliveries.next_attempt_at' }, { column: 'deliveries.id' }])
    .limit(limit)
    .offset((page - 1) * limit)
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
    )) as Record<string, any>[];
  const total = Number(n);
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
