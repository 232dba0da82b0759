import { isMysql, type Db } from '../db';

/**
 * What a recipient asked for, or their mailbox proved, outlives the sender domain it was recorded under
 * (migrations/20261225000100_retained_suppressions.ts): deleting a domain keeps these reasons for its owner, and
 * re-adding the same name restores them. Manual entries are the owner's own and go with the domain.
 */
const KEPT = ['hard_bounce', 'complaint', 'unsubscribe'];

/**
 * In the deleting transaction, before the domain's rows cascade away: one INSERT … SELECT (a list may hold millions).
 * An address already kept from an earlier deletion of the name keeps its first record.
 */
export async function retainSuppressions(trx: Db, domain: { id: number; user_id: number; domain: string }, now: number): Promise<void> {
  await trx.raw(
    'insert into retained_suppressions (user_id, domain, email, reason, detail, created_at, retained_at) ' +
      `select ?, ?, email, reason, detail, created_at, ? from suppressions where domain_id = ? and reason in (${KEPT.map(() => '?').join(', ')}) ` +
      keepFirst(trx, 'user_id'),
    [domain.user_id, domain.domain, now, domain.id, ...KEPT],
  );
}

/** In the transaction that adds the name again for the same owner: the kept addresses become its suppressions. */
export async function restoreSuppressions(trx: Db, userId: number, domainId: number, name: string): Promise<void> {
  await trx.raw(
    'insert into suppressions (domain_id, email, reason, detail, created_at) ' +
      `select ?, email, reason, detail, created_at from retained_suppressions where user_id = ? and domain = ? ${keepFirst(trx, 'domain_id')}`,
    [domainId, userId, name],
  );
  await trx('retained_suppressions').where({ user_id: userId, domain: name }).delete();
}

/**
 * A row already there for the key stays as it is. Not INSERT IGNORE: that would also turn a value too long for its
 * column, or a missing parent row, into a warning and a row cut short or skipped.
 */
function keepFirst(trx: Db, column: string): string {
  return isMysql(trx) ? `on duplicate key update ${column} = ${column}` : 'on conflict do nothing';
}
