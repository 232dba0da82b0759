/**
 * Soft → hard (upstream §6.6): a message to an address that finally fails with a soft or mailbox-full reply counts
 * one soft bounce of that address from that domain: retried until DELIVERY_MAX_AGE_SECONDS ran out (send-attempt.ts),
 * or reported failed by a later DSN (inbound/process.ts). At SOFT_BOUNCE_LIMIT (3) the address joins the domain's
 * suppression list as a hard bounce, unless the account's whitelist covers it. A temporary refusal that is retried
 * counts nothing: upstream counts PowerMTA's bounce records, written only when a message fails for good, and a
 * greylisting server refuses the first attempt of every message (each has its own VERP return path), so a burst of
 * messages to a working address once reached the limit before any retry was taken. A message delivered to the
 * address after a refusal clears the count (forgetSoftBounces).
 */
import type { Services } from '../command';
import { addSuppression } from './suppressions';
import { whitelisted } from './scopes';

export const SOFT_CLASSES = new Set(['soft', 'mailbox_full']);

/**
 * One final soft failure of a message, counted once by its caller. The UPDATE adds one atomically (MariaDB and SQLite
 * alike), and whichever call then reads the limit or more suppresses (addSuppression ignores an entry already there),
 * so concurrent failures can neither lose the suppression nor add it twice.
 */
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

/** After a delivery that succeeded after a refusal: the address takes mail from this domain, so its soft bounces go. */
export async function forgetSoftBounces(services: Services, d: { domain_id: number; recipient: string }): Promise<void> {
  await services
    .db('soft_bounce_counts')
    .where({ domain_id: d.domain_id, email: d.recipient.toLowerCase().slice(0, 191) })
    .delete();
}
