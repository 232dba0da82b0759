/**
 * An account as the admin's commands show it (users.get, user.get, user.update): its UserInfo, and DeletionStartedAt,
 * when an unfinished user.delete of it began (src/domains/deleting.ts), else null.
 */
import type { UserRow } from '../model';
import { presentUserInfo } from '../auth/users';
import { deletionStartedAt } from '../domains/deleting';

export function presentUserForAdmin(user: UserRow): Record<string, unknown> {
  return { ...presentUserInfo(user), DeletionStartedAt: deletionStartedAt(user) };
}
