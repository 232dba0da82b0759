import type { Knex } from 'knex';
import { purgeDomainRows } from '../domains/purge';
import { purgeListMembers } from '../lists/purge';
import { idsByColumn, idsOf, removeInRuns } from '../store/chunked-delete';

/**
 * user.delete's work once every id is known: the accounts are switched off (nothing signs in or sends for them, so their
 * suppression lists may go), their large tables go a run at a time (src/store/chunked-delete.ts), then the rows named
 * here and the accounts, the rest by foreign-key cascade, in one short transaction. A deletion cut short leaves the
 * accounts Disabled with part of their data gone; the call again finishes it.
 */
export async function deleteUsers(db: Knex, size: number, ids: number[]): Promise<void> {
  await db('users').whereIn('id', ids).update({ account_status: 'Disabled', updated_at: Date.now() });
  for (const listId of await db('lists').whereIn('user_id', ids).pluck('id')) await purgeListMembers(db, size, Number(listId));
  const domains: { id: number; user_id: number; domain: string }[] = await db('sender_domains').whereIn('user_id', ids).select('id', 'user_id', 'domain');
  for (const d of domains) await purgeDomainRows(db, size, { id: Number(d.id), user_id: Number(d.user_id), domain: d.domain });
  // Events have no foreign key: any the domains' runs did not reach (under a domain deleted before) go by the account.
  for (const user_id of ids)
    await removeInRuns(db, size, idsByColumn(db, 'events', 'created_at', { user_id }), (trx, rows) => trx('events').whereIn('id', idsOf(rows)).delete());
  await db.transaction(async (trx) => {
    const domainIds = await trx('sender_domains').whereIn('user_id', ids).pluck('id');
    await trx('domain_api_keys').whereIn('user_id', ids).delete();
    await trx('smtp_credentials').whereIn('user_id', ids).delete();
    if (domainIds.length) await trx('sender_domains').whereIn('id', domainIds).delete();
    await trx('user_api_keys').whereIn('user_id', ids).delete();
    await trx('events').whereIn('user_id', ids).delete();
    await trx('usage_counters').whereIn('user_id', ids).delete();
    await trx('sessions').where({ kind: 'user' }).whereIn('subject_id', ids).delete();
    await trx('users').whereIn('id', ids).delete();
  });
}
