/**
 * The deletion mark (`deleting_at`, migrations/20270103000100_deletion_marks.ts) of a sender domain or an account. A
 * deletion purges its suppression list in runs outside any transaction, for up to minutes, and may be cut short: a
 * domain switched back on meanwhile would send to addresses that bounced or complained. Every way back on (the
 * owner's status switch, verification, adding the name again, the admin's status change, an account's re-enabling)
 * refuses a marked row, in the same statement or locked read that would change it; only deleting again goes on.
 */
import { formatTime } from '../auth/users';

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
