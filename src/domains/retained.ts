import type { Knex } from 'knex';
import { containsPattern, isMysql, type Db } from '../db';
import { keysInOrder, removeInRuns } from '../store/chunked-delete';
import { formatTime } from '../auth/users';
import { CommandError } from '../errors';
import { normalizeDomain } from './names';

/**
 * What a recipient asked for, or their mailbox proved, outlives the sender domain it was recorded under
 * (migrations/20261225000100_retained_suppressions.ts): deleting a domain keeps these reasons for its owner, and
 * re-adding the same name restores them. Manual entries are the owner's own and go with the domain.
 */
const KEPT = ['hard_bounce', 'complaint', 'unsubscribe'];

/**
 * Before the domain's rows go: one INSERT … SELECT, over the run of `emails` being deleted (a list may hold millions:
 * src/domains/purge.ts takes them a run at a time), or over all that are left. An address already kept from an
 * earlier deletion of the name keeps its first record.
 */
export async function retainSuppressions(trx: Db, domain: { id: number; user_id: number; domain: string }, now: number, emails?: string[]): Promise<void> {
  await trx.raw(
    'insert into retained_suppressions (user_id, domain, email, reason, detail, created_at, retained_at) ' +
      `select ?, ?, email, reason, detail, created_at, ? from suppressions where domain_id = ? and reason in (${KEPT.map(() => '?').join(', ')}) ` +
      (emails ? `and email in (${emails.map(() => '?').join(', ')}) ` : '') +
      keepFirst(trx, 'user_id'),
    [domain.user_id, domain.domain, now, domain.id, ...KEPT, ...(emails ?? [])],
  );
}

/**
 * The kept addresses of the owner's deleted domains of this name become the domain's suppressions, a run of `size` at a
 * time (each run one short transaction: its INSERT … SELECT, then its kept rows go), so a name kept with millions of
 * addresses adds back in statements of a run each. A restore cut short leaves the rest kept: the next call finishes it,
 * and so does the next step that would switch the domain on (saveAssessment, updateDomain), so it never sends with
 * part of its list. Cheap when nothing is kept: one read of the kept table's key.
 */
export async function restoreSuppressions(db: Knex, size: number, domain: { id: number; user_id: number; domain: string }): Promise<void> {
  const scope = { user_id: Number(domain.user_id), domain: domain.domain };
  await removeInRuns(db, size, keysInOrder<string>(db, 'retained_suppressions', 'email', scope), async (trx, emails) => {
    await trx.raw(
      'insert into suppressions (domain_id, email, reason, detail, created_at) ' +
        `select ?, email, reason, detail, created_at from retained_suppressions where user_id = ? and domain = ? ` +
        `and email in (${emails.map(() => '?').join(', ')}) ${keepFirst(trx, 'domain_id')}`,
      [Number(domain.id), scope.user_id, scope.domain, ...emails],
    );
    await trx('retained_suppressions').where(scope).whereIn('email', emails).delete();
  });
}

/**
 * A row already there for the key stays as it is. Not INSERT IGNORE: that would also turn a value too long for its
 * column, or a missing parent row, into a warning and a row cut short or skipped.
 */
function keepFirst(trx: Db, column: string): string {
  return isMysql(trx) ? `on duplicate key update ${column} = ${column}` : 'on conflict do nothing';
}

/** The optional Domain of the two kept-list commands, as stored (lowercase ASCII); code [1] for one that is not a name. */
export function keptDomainParam(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const domain = normalizeDomain(String(value));
  if (domain === null) throw new CommandError([1]);
  return domain;
}

export interface RetainedFilter {
  domain?: string;
  query?: string;
  reason?: string;
  startFrom: number;
  count: number;
}

/**
 * What the owner's deleted domains kept, newest deletion first, for the owner to see and correct (a recipient's
 * erasure request, an unsubscribe recorded in error): otherwise these rows would be invisible until the name came back.
 */
export async function listRetained(db: Db, userId: number, f: RetainedFilter) {
  const q = db('retained_suppressions').where({ user_id: userId });
  if (f.domain) q.where({ domain: f.domain });
  if (f.query) q.whereRaw(`email like ? escape '!'`, [containsPattern(f.query.toLowerCase())]);
  if (f.reason) q.where({ reason: f.reason });
  const [{ n }] = await q.clone().count({ n: '*' });
  const rows = (await q
    .orderBy([{ column: 'retained_at', order: 'desc' }, 'domain', 'email'])
    .limit(f.count)
    .offset(f.startFrom)) as {
    domain: string;
    email: string;
    reason: string;
    detail: string;
    created_at: number;
    retained_at: number;
  }[];
  return {
    TotalRecords: Number(n),
    Suppressions: rows.map((r) => ({
      Domain: r.domain,
      EmailAddress: r.email,
      Reason: r.reason,
      Detail: r.detail,
      CreatedAt: formatTime(Number(r.created_at)),
      RetainedAt: formatTime(Number(r.retained_at)),
    })),
  };
}

/** Forgets a kept address: under one deleted domain's name, or under every one of the owner's when `domain` is absent. */
export async function forgetRetained(db: Db, userId: number, email: string, domain?: string): Promise<number> {
  const q = db('retained_suppressions').where({ user_id: userId, email: email.toLowerCase() });
  if (domain) q.where({ domain });
  return Number(await q.delete());
}
