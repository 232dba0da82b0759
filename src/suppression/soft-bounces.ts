/**
 * Soft → hard (upstream §6.6): a message whose first attempt an address refused temporarily (class soft or
 * mailbox_full) counts one soft bounce of that address from that domain; at SOFT_BOUNCE_LIMIT (3) the address joins
 * the domain's suppression list as a hard bounce, unless the account's whitelist covers it. A message delivered to the
 * address on a retry clears the count (forgetSoftBounces): a greylisting server refuses every new envelope sender once,
 * and each message's return path is its own VERP address, so three greylisted-then-delivered messages suppressed a
 * working address.
 */
import type { Services } from '../command';
import { addSuppression } from './suppressions';
import { whitelisted } from './scopes';

export const SOFT_CLASSES = new Set(['soft', 'mailbox_full']);

export async function noteSoftBounce(services: Services, d: { domain_id: number; user_id: number; recipient: string }, reply: string): Promise<void> {
  const { db, config } = services;
  const email = d.recipient.toLowerCase().slice(0, 191);
  const now = Date.now();
  await db('soft_bounce_counts').insert({ domain_id: d.domain_id, email, count: 0, updated_at: now }).onConflict(['domain_id', 'email']).ignore();
  await db('soft_bounce_counts')
    .where({ domain_id: d.domain_id, email })
    .update({ count: db.raw('?? + 1', ['count']), updated_at: now });
  const row = await db('soft_bounce_counts').where({ domain_id: d.domain_id, email }).first('count');
  if (Number(row?.count) < config.softBounceLimit || (await whitelisted(db, Number(d.user_id), email))) return;
  await addSuppression(db, Number(d.domain_id), email, 'hard_bounce', `${config.softBounceLimit} soft bounces; last: ${reply}`);
}

/** After a delivery that succeeded on a retry: the address takes mail from this domain, so its soft bounces go. */
export async function forgetSoftBounces(services: Services, d: { domain_id: number; recipient: string }): Promise<void> {
  await services
    .db('soft_bounce_counts')
    .where({ domain_id: d.domain_id, email: d.recipient.toLowerCase().slice(0, 191) })
    .delete();
}
