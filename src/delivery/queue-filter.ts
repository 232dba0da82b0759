import type { Knex } from 'knex';
import type { CommandContext, Params } from '../command';
import { CommandError } from '../errors';

/**
 * The codes every queue control command shares (queue.list, retry, hold, release, purge). Parameter shapes are
 * checked by each command's schema; these are the codes the schemas and handlers answer.
 */
export const QUEUE_ERRORS: Record<number, string> = {
  1: 'Invalid DeliveryID',
  2: 'Invalid DomainID',
  3: 'Invalid SenderDomain',
  4: 'Invalid RecipientDomain',
  5: 'Invalid MinAgeSeconds or MaxAgeSeconds',
  6: 'Invalid UserID',
  7: 'Name the deliveries: DeliveryID, SenderDomain, DomainID, RecipientDomain, an age, or All=true',
  8: 'Delivery not found',
};

/** Which deliveries a queue command acts on. `userId` is the tenancy bound: always set for a user caller. */
export interface QueueFilter {
  userId?: number;
  deliveryId?: number;
  domainId?: number;
  senderDomain?: string;
  recipientDomain?: string;
  /** Accepted at least / at most this long ago (ms). */
  minAgeMs?: number;
  maxAgeMs?: number;
}

const truthy = (v: unknown) => v === true || v === 1 || (typeof v === 'string' && /^(1|true|yes)$/i.test(v));

/**
 * The filter from the command's parameters. A user only ever sees their own deliveries (another user's DomainID
 * or DeliveryID simply matches nothing, as a missing one would); the admin sees all and may narrow by UserID.
 */
export function queueFilterOf(p: Params, ctx: CommandContext): QueueFilter {
  const num = (k: string) => (p[k] === undefined ? undefined : Number(p[k]));
  const low = (k: string) => (typeof p[k] === 'string' ? (p[k] as string).trim().toLowerCase() : undefined);
  const f: QueueFilter = {
    userId: ctx.user ? ctx.user.id : num('userid'),
    deliveryId: num('deliveryid'),
    domainId: num('domainid'),
    senderDomain: low('senderdomain'),
    recipientDomain: low('recipientdomain'),
    minAgeMs: p.minageseconds === undefined ? undefined : Number(p.minageseconds) * 1000,
    maxAgeMs: p.maxageseconds === undefined ? undefined : Number(p.maxageseconds) * 1000,
  };
  if (f.minAgeMs !== undefined && f.maxAgeMs !== undefined && f.minAgeMs > f.maxAgeMs) throw new CommandError([5]);
  return f;
}

/** A command that changes deliveries needs a filter or an explicit All=true: an empty request never touches the whole queue. */
export function requireSelection(p: Params, f: QueueFilter, ctx: CommandContext): void {
  const named =
    f.deliveryId !== undefined ||
    f.domainId !== undefined ||
    f.senderDomain !== undefined ||
    f.recipientDomain !== undefined ||
    f.minAgeMs !== undefined ||
    f.maxAgeMs !== undefined ||
    (!ctx.user && f.userId !== undefined);
  if (!named && !truthy(p.all)) throw new CommandError([7]);
}

/** Narrows a query on `deliveries` (unaliased) to the filter. */
export function applyFilter(db: Knex, q: Knex.QueryBuilder, f: QueueFilter, now: number): Knex.QueryBuilder {
  if (f.userId !== undefined) q.where('deliveries.user_id', f.userId);
  if (f.deliveryId !== undefined) q.where('deliveries.id', f.deliveryId);
  if (f.domainId !== undefined) q.where('deliveries.domain_id', f.domainId);
  if (f.senderDomain !== undefined) q.whereIn('deliveries.domain_id', db('sender_domains').where('domain', f.senderDomain).select('id'));
  if (f.recipientDomain !== undefined) q.where('deliveries.recipient_domain', f.recipientDomain);
  if (f.minAgeMs !== undefined) q.where('deliveries.created_at', '<=', now - f.minAgeMs);
  if (f.maxAgeMs !== undefined) q.where('deliveries.created_at', '>=', now - f.maxAgeMs);
  return q;
}
