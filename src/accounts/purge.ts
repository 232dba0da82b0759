import type { Knex } from 'knex';
import { purgeDomainRows } from '../domains/purge';
import { purgeListMembers } from '../lists/purge';
import { idsByColumn, idsOf, keysInOrder, removeInRuns, removeTuplesInRuns } from '../store/chunked-delete';
import { scopeKey } from '../suppression/scopes';
import { purgeWebhookRows } from '../webhooks/purge';

/**
 * user.delete's work once every id is known: the accounts are switched off (nothing signs in or sends for them, so their
 * suppression lists may go) and they and their domains marked (deleting_at: neither is switched back on meanwhile,
 * src/domains/deleting.ts), their large tables go a run at a time (src/store/chunked-delete.ts), then the rows named
 * here and the accounts, the rest by foreign-key cascade, in one short transaction. A deletion cut short leaves the
 * accounts Disabled and marked with part of their data gone; the call again finishes it. `switchedOff` runs once they
 * are (the caller's credential caches still hold them Enabled). Their domains' suppressions are not kept
 * (retained.ts): the kept rows are their owner's, and the owner is what goes, on the admin's request.
 */
export async function deleteUsers(db: Knex, size: number, ids: number[], switchedOff: () => void = () => undefined): Promise<void> {
  await db.transaction(async (trx) => {
    const now = Date.now();
    await trx('users')
      .whereIn('id', ids)
      .update({ account_status: 'Disabled', deleting_at: trx.raw('coalesce(deleting_at, ?)', [now]), updated_at: now });
    await trx('sender_domains').whereIn('user_id', ids).whereNull('deleting_at').update({ deleting_at: now, updated_at: now });
  });
  switchedOff();
  for (const listId of await db('lists').whereIn('user_id', ids).pluck('id')) await purgeListMembers(db, size, Number(listId));
  const domains: { id: number; user_id: number; domain: string }[] = await db('sender_domains').whereIn('user_id', ids).select('id', 'user_id', 'domain');
  for (const d of domains) await purgeDomainRows(db, size, { id: Number(d.id), user_id: Number(d.user_id), domain: d.domain });
  // Events have no foreign key: any the domains' runs did not reach (under a domain deleted before) go by the account.
  for (const user_id of ids) {
    await removeInRuns(db, size, idsByColumn(db, 'events', 'created_at', { user_id }), (trx, rows) => trx('events').whereIn('id', idsOf(rows)).delete());
    await purgeAccountRows(db, size, user_id);
  }
  await db.transaction(async (trx) => {
    // The accounts' rows first, as every writer for their domains takes them (unlessDeleting, src/domains/deleting.ts):
    // locking a domain row first deadlocked with a command holding its account and waiting on that domain.
    if (trx.client.config.client === 'mysql2') await trx('users').whereIn('id', ids).forUpdate().select('id');
    const domainIds = await trx('sender_domains').whereIn('user_id', ids).pluck('id');
    await trx('domain_api_keys').whereIn('user_id', ids).delete();
    await trx('smtp_credentials').whereIn('user_id', ids).delete();
    if (domainIds.length) await trx('sender_domains').whereIn('id', domainIds).delete();
    await trx('user_api_keys').whereIn('user_id', ids).delete();
    await trx('events').whereIn('user_id', ids).delete();
    await trx('usage_counters').whereIn('user_id', ids).delete();
    await trx('quota_refunds').whereIn('user_id', ids).delete();
    await trx('sessions').where({ kind: 'user' }).whereIn('subject_id', ids).delete();
    await trx('users').whereIn('id', ids).delete();
  });
}

/**
 * What an account holds beyond its domains and lists that grows with its use: its account-wide webhooks' calls and
 * logs, its kept suppressions and hours (retained.ts, retained-hours.ts), its account-scoped suppression list.
 * The rest (templates, campaigns, keys, the lists' and webhooks' own rows) is a row per thing made, cascaded last.
 */
async function purgeAccountRows(db: Knex, size: number, userId: number): Promise<void> {
  for (const id of await db('webhooks').where({ user_id: userId }).whereNull('domain_id').pluck('id')) await purgeWebhookRows(db, size, Number(id));
  await removeTuplesInRuns(db, size, 'retained_suppressions', ['domain', 'email'], { user_id: userId });
  await removeTuplesInRuns(db, size, 'retained_reputation_hours', ['bucket', 'type'], { user_id: userId });
  const scope_key = scopeKey({ userId });
  await removeInRuns(db, size, keysInOrder<string>(db, 'suppression_entries', 'email', { scope_key }), (trx, emails) =>
    trx('suppression_entries').where({ scope_key }).whereIn('email', emails).delete(),
  );
}
