import type { Knex } from 'knex';
import { keysInOrder, removeInRuns } from '../store/chunked-delete';
import { scopeKey } from '../suppression/scopes';

/**
 * A list's members and list-scoped suppressions, a run at a time (src/store/chunked-delete.ts), before the list row
 * goes in a short transaction of its own (list.delete, user.delete). Each member goes with its field values in one
 * transaction, so a deletion cut short leaves the list with fewer members, never a member without its values; the
 * same call again finishes it.
 */
export async function purgeListMembers(db: Knex, size: number, listId: number): Promise<void> {
  await removeInRuns(db, size, keysInOrder<number>(db, 'subscribers', 'id', { list_id: listId }), async (trx, ids) => {
    await trx('subscriber_values').whereIn('subscriber_id', ids).delete();
    await trx('subscribers').whereIn('id', ids).delete();
  });
  const scope_key = scopeKey({ listId });
  await removeInRuns(db, size, keysInOrder<string>(db, 'suppression_entries', 'email', { scope_key }), (trx, emails) =>
    trx('suppression_entries').where({ scope_key }).whereIn('email', emails).delete(),
  );
}

/**
 * A custom field's stored values, walked along its list's members by (list_id, id): subscriber_values has no index
 * in member order by field on SQLite, and each delete is then by primary key on both stores.
 */
export async function purgeFieldValues(db: Knex, size: number, field: { id: number; list_id: number }): Promise<void> {
  await removeInRuns(db, size, keysInOrder<number>(db, 'subscribers', 'id', { list_id: field.list_id }), (trx, ids) =>
    trx('subscriber_values').where('field_id', field.id).whereIn('subscriber_id', ids).delete(),
  );
}

/**
 * list.delete's work once every id is known to be the caller's: the members a run at a time, then one short
 * transaction for what is left (members added meanwhile, the fields) and the list rows.
 */
export async function deleteLists(db: Knex, size: number, userId: number, ids: number[]): Promise<void> {
  for (const id of ids) await purgeListMembers(db, size, id);
  await db.transaction(async (trx) => {
    const late = trx('subscribers').whereIn('list_id', ids).select('id');
    await trx('subscriber_values').whereIn('subscriber_id', late).delete();
    await trx('subscribers').whereIn('list_id', ids).delete();
    await trx('list_custom_fields').whereIn('list_id', ids).delete();
    await trx('lists').where({ user_id: userId }).whereIn('id', ids).delete();
  });
}
