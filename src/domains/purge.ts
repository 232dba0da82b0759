import type { Knex } from 'knex';
import { hourOf } from '../stats/rollups';
import { idsByColumn, idsOf as ids, keysInOrder, removeInRuns, removeTuplesInRuns } from '../store/chunked-delete';
import { purgeWebhookRows } from '../webhooks/purge';
import { WINDOW_HOURS } from './reputation-figures';
import { retainSuppressions } from './retained';

/**
 * A sender domain's message history and suppression list a run at a time (src/store/chunked-delete.ts), before its
 * row goes in a short transaction that cascades the rest (small tables, and rows added behind the walk). The caller
 * has stopped its sending first (deleteDomain switches it off, user.delete the account; both mark it, deleting.ts): a
 * suppression list taken away while mail still goes out would let it reach addresses that bounced or complained.
 * `retainAt`: the time its kept reasons are retained at for the owner (retained.ts), per run; unset when the owner
 * goes too. With it, the hours in the reputation guard's window stay for the closing transaction to keep
 * (retained-hours.ts): a day of hours, a few rows a type.
 */
export async function purgeDomainRows(db: Knex, size: number, domain: { id: number; user_id: number; domain: string }, retainAt?: number): Promise<void> {
  const scope = { domain_id: domain.id };
  await removeInRuns(db, size, idsByColumn(db, 'deliveries', 'created_at', scope), (trx, rows) => trx('deliveries').whereIn('id', ids(rows)).delete());
  // A message carries its stored content (tens of KB) and cascades its tracked links: fewer a statement.
  await removeInRuns(db, Math.ceil(size / 10), idsByColumn(db, 'messages', 'created_at', scope), (trx, rows) =>
    trx('messages').whereIn('id', ids(rows)).delete(),
  );
  await removeInRuns(db, size, idsByColumn(db, 'events', 'created_at', scope), (trx, rows) => trx('events').whereIn('id', ids(rows)).delete());
  await removeInRuns(db, size, keysInOrder<number>(db, 'captured_messages', 'id', scope), (trx, keys) => trx('captured_messages').whereIn('id', keys).delete());
  for (const webhook_id of await db('webhooks').where(scope).pluck('id')) await purgeWebhookRows(db, size, Number(webhook_id));
  await removeInRuns(db, size, keysInOrder<number>(db, 'domain_events', 'id', scope), (trx, keys) => trx('domain_events').whereIn('id', keys).delete());
  const windowFrom = retainAt === undefined ? null : hourOf(retainAt) - WINDOW_HOURS + 1;
  await removeTuplesInRuns(db, size, 'stats_rollup', ['unit', 'bucket', 'type'], scope, (q) => {
    if (windowFrom !== null) q.whereNot((w) => w.where('unit', 'h').where('bucket', '>=', windowFrom));
  });
  await removeTuplesInRuns(db, size, 'stats_tag_rollup', ['unit', 'bucket', 'tag', 'type'], scope);
  await removeTuplesInRuns(db, size, 'stats_recipient_domain_rollup', ['recipient_domain', 'unit', 'bucket', 'type'], scope);
  await removeInRuns(db, size, keysInOrder<string>(db, 'suppressions', 'email', scope), async (trx, emails) => {
    if (retainAt !== undefined) await retainSuppressions(trx, domain, retainAt, emails);
    await trx('suppressions').where(scope).whereIn('email', emails).delete();
  });
  await removeInRuns(db, size, keysInOrder<string>(db, 'soft_bounce_counts', 'email', scope), (trx, emails) =>
    trx('soft_bounce_counts').where(scope).whereIn('email', emails).delete(),
  );
}
