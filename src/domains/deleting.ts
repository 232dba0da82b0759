/**
 * The deletion mark (`deleting_at`, migrations/20270103000100_deletion_marks.ts) of a sender domain or an account. A
 * deletion purges its suppression list in runs outside any transaction, for up to minutes, and may be cut short: a
 * domain switched back on meanwhile would send to addresses that bounced or complained. Every way back on (the
 * owner's status switch, verification, adding the name again, the admin's status change, an account's re-enabling)
 * refuses a marked row, in the same statement or locked read that would change it; only deleting again goes on.
 */
import type { Knex } from 'knex';
import type { Db } from '../db';
import { formatTime, lockUserRow } from '../auth/users';

export const DOMAIN_DELETING_TEXT = 'The sender domain is being deleted (a deletion was begun and not finished): delete it again to finish';
export const ACCOUNT_DELETING_TEXT = 'The account is being deleted (user.delete was begun and not finished): call user.delete again to finish';

/** Whether the row carries the mark. */
export function isDeleting(row: { deleting_at?: number | string | null }): boolean {
  return row.deleting_at !== null && row.deleting_at !== undefined;
}

/** The presenters' field: when the deletion began, null when none is under way. */
export function deletionStartedAt(row: { deleting_at?: number | string | null }): string | null {
  return isDeleting(row) ? formatTime(Number(row.deleting_at)) : null;
}

/**
 * Reads sender_domains rows inside a transaction that holds their account's row lock (lockUserRow). A deletion takes
 * that lock before it marks a domain and again before it removes it (manage.ts deleteDomain; accounts/purge.ts writes
 * the account's row first), so what the transaction writes for the domain next (a credential, a webhook, a key
 * limited to it) cannot land behind a mark it did not see, nor name a domain gone since. The read shares the rows'
 * locks on MySQL, so it sees the latest commit whatever the snapshot.
 */
export async function readUnderAccountLock<T>(trx: Db, q: Knex.QueryBuilder): Promise<T> {
  return (trx.client.config.client === 'mysql2' ? await q.forShare() : await q) as T;
}

/** The domain as read under its account's row lock: marked (`deleting`), deleted since the caller found it (`gone`), or `live`. */
export async function domainUnderAccountLock(trx: Db, domainId: number): Promise<'live' | 'deleting' | 'gone'> {
  const row = await readUnderAccountLock<{ deleting_at: number | null } | undefined>(trx, trx('sender_domains').where({ id: domainId }).first('deleting_at'));
  return !row ? 'gone' : isDeleting(row) ? 'deleting' : 'live';
}

/** Whether the domain is marked, read under its account's row lock (readUnderAccountLock). */
export async function markedUnderAccountLock(trx: Db, domainId: number): Promise<boolean> {
  return (await domainUnderAccountLock(trx, domainId)) === 'deleting';
}

/**
 * Runs `write` in a transaction under the account's row lock, unless the domain is marked or gone (deleted since the
 * caller found it: the write would fail on its foreign key): then throws `refusal(state)` and nothing is written.
 */
export async function unlessDeleting<T>(
  db: Db,
  domain: { id: number; user_id: number },
  refusal: (state: 'deleting' | 'gone') => Error,
  write: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  return db.transaction(async (trx) => {
    await lockUserRow(trx, Number(domain.user_id));
    const state = await domainUnderAccountLock(trx, Number(domain.id));
    if (state !== 'live') throw refusal(state);
    return write(trx);
  });
}
