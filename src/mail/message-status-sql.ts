import type { Knex } from 'knex';
import { isMysql, type Db } from '../db';
import { leasedSql, stampedDeliveries, STORED_SENDING, WAITING } from '../delivery/leased';

const any = (status: string) => `max(d.status = '${status}') = 1`;

/**
 * messageStatus (src/mail/lookup.ts) in SQL over the deliveries of `messages.id`: its rules in its order, the first
 * delivery by id deciding last as there, so a filter on it lists exactly what the log then shows. Read through
 * deliveries(message_id), one message at a time. A leased delivery shows 'sending' (leased.ts); once none is, a
 * waiting status present is an unleased row's, so the later rules read the stored status.
 */
export const MESSAGE_STATUS_SQL = `(select case
  when max(${leasedSql('d')}) = 1 then 'sending' when ${any('queued')} then 'queued' when ${any('deferred')} then 'deferred'
  when ${any('scheduled')} then 'scheduled' when ${any('held')} then 'held'
  when count(*) = 0 or min(d.status = 'delivered') = 1 then 'delivered'
  when min(d.status = 'cancelled') = 1 then 'cancelled'
  when ${any('delivered')} then 'partially_delivered'
  when ${any('bounced')} then 'bounced'
  else (select d1.status from deliveries d1 where d1.message_id = messages.id order by d1.id limit 1)
end from deliveries d where d.message_id = messages.id)`;

/**
 * The delivery statuses a message in this status has at least one of, by messageStatus's rules (partially delivered:
 * some delivered, none pending, so one bounced, failed, cancelled or suppressed). Null for delivered: every delivery delivered.
 */
const NEEDS: Record<string, string[] | null> = {
  sending: [...WAITING, STORED_SENDING],
  queued: ['queued'],
  deferred: ['deferred'],
  scheduled: ['scheduled'],
  held: ['held'],
  cancelled: ['cancelled'],
  suppressed: ['suppressed'],
  partially_delivered: ['bounced', 'failed', 'cancelled', 'suppressed'],
  bounced: ['bounced'],
  failed: ['failed'],
  delivered: null,
};

/**
 * The messages a status filter need look at, as a subquery of their distinct ids, or null when it must read every message:
 * the user's deliveries in the statuses those messages must have one of, found through deliveries (user_id, status,
 * next_attempt_at). `in` a list without `delivered` needs the few deliveries in those statuses (`sent` in the platform's
 * words: the ones on their way); `not in` a list with `delivered` needs the deliveries not delivered (a message that is
 * not delivered has one). Anything else is left to reading the messages in order.
 */
export function statusCandidates(db: Db, userId: number, how: 'in' | 'not in', statuses: string[]): Knex.QueryBuilder | null {
  // Named on MariaDB: with one tenant's rows alike it took (status, next_attempt_at), every tenant's deliveries.
  const table = isMysql(db) ? db.raw('?? force index (??)', ['deliveries', 'deliveries_user_queue_idx']) : 'deliveries';
  const ids = db.from(table).distinct('deliveries.message_id').where('deliveries.user_id', userId);
  if (how === 'not in') return statuses.includes('delivered') ? ids.whereNot('deliveries.status', 'delivered') : null;
  const needs = statuses.map((s) => NEEDS[s]);
  if (needs.some((n) => !n)) return null;
  // A sending message has a leased delivery, not merely a waiting one: without the stamp every waiting delivery of the
  // user was a candidate, each message then probed (2.7 s for 250 leased among 250,000 waiting, against 17 ms while a
  // lease was its own status). Through the user's index the stamps were still read from each waiting row (789 ms):
  // the stamped ones come from the stamp's index (every tenant's stamped rows, then user_id), united with the user's
  // rows in the other statuses and in 'sending' as an earlier release stored it (none outside a rolling upgrade).
  if (statuses.includes('sending')) {
    const others = [...new Set([STORED_SENDING, ...statuses.filter((s) => s !== 'sending').flatMap((s) => NEEDS[s]!)])];
    const stamped = stampedDeliveries(db).distinct('deliveries.message_id').where('deliveries.user_id', userId).whereIn('deliveries.status', NEEDS.sending!);
    return stamped.union(ids.whereIn('deliveries.status', others));
  }
  ids.whereIn('deliveries.status', [...new Set(needs.flat() as string[])]);
  return ids;
}
