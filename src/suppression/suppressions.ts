import { isMysql, placeholders, sql, type Db, type Stmt } from '../db';
import type { Store } from '../store/store';
import { Coalescer } from '../coalesce';
import { formatTime } from '../auth/users';
import { patterns, patternSuppressed, scopeKey } from './scopes';

export type SuppressionReason = 'manual' | 'hard_bounce' | 'complaint' | 'unsubscribe';

/** How a lookup reads the lists: `patterns` false for campaigns (as upstream); `listId` adds that list's PerList entries. */
export interface LookupOptions {
  patterns?: boolean;
  listId?: number;
}

/**
 * The subset of `emails` (any case) a send from the domain must skip, lowercase: the domain's own list, the
 * AccountWide entries of the domain's owner, SystemWide entries, with `listId` that list's PerList entries (one round
 * trip: a UNION ALL), and, unless `patterns` is false (campaigns, as upstream), the install's suppression patterns.
 */
export async function suppressedAmong(store: Store, domainId: number, emails: string[], opts: LookupOptions = {}): Promise<Set<string>> {
  if (!emails.length) return new Set();
  const lower = [...new Set(emails.map((e) => e.toLowerCase()))];
  const found = new Set<string>();
  for (let i = 0; i < lower.length; i += 1000) {
    const some = lower.slice(i, i + 1000);
    const [rows] = await store.runTogether([suppressedQuery(store.db, domainId, some, opts.listId)]);
    for (const r of rows as { email: string }[]) found.add(String(r.email).toLowerCase());
  }
  if (opts.patterns !== false) for (const e of lower) if (!found.has(e) && (await patternSuppressed(store, e))) found.add(e);
  return found;
}

/**
 * The domain's own entries and the AccountWide (of the domain's owner) and SystemWide entries among `emails`
 * (lowercase), plus with `listId` the list's own (its scope_key, the unique index's prefix), as the text scopedWhere
 * builds. Written as SQL, not with the builder: every SMTP RCPT runs it (coalesced), and knex's compile and runner
 * were most of the front's client-side cost of the lookup.
 */
function suppressedQuery(db: Db, domainId: number, emails: string[], listId?: number): Stmt {
  const list = placeholders(emails.length);
  return sql(
    db,
    'select `email` from `suppressions` where `domain_id` = ? and `email` in ' +
      list +
      // UNION ALL: the caller makes a Set of the answer, and MariaDB builds a temporary table for a plain UNION.
      ' union all select `e`.`email` from `suppression_entries` as `e` where `e`.`email` in ' +
      list +
      ' and `e`.`list_id` is null and (`e`.`user_id` is null or `e`.`user_id` = (select `user_id` from `sender_domains` where `id` = ?))' +
      (listId ? ' union all select `email` from `suppression_entries` where `scope_key` = ? and `email` in ' + list : ''),
    [domainId, ...emails, ...emails, domainId, ...(listId ? [scopeKey({ listId }), ...emails] : [])],
  );
}

/** The subset of `emails` (lowercase) the install's suppression patterns cover: no query (the patterns are kept). */
export async function patternSuppressedAmong(store: Store, emails: string[]): Promise<Set<string>> {
  const list = await patterns(store);
  const found = new Set<string>();
  if (list.length) for (const e of emails) if (list.some((p) => p.test(e.toLowerCase()))) found.add(e.toLowerCase());
  return found;
}

/**
 * MySQL only: statements that fail with ER_SUBQUERY_NO_1_ROW when any of `emails` (lowercase) is on a list a send
 * from the domain must skip (the lists of suppressedQuery; not the patterns), and answer one row otherwise. The
 * accept's group commit sends them in its transaction's one round trip, before the rows: no hit (the usual case)
 * costs no round trip of its own, and a hit fails the transaction before it writes, so it rolls back and the lists are
 * read (suppressedAmong). Empty elsewhere: SQLite's scalar subquery takes the first row instead of failing.
 */
export function suppressionGuards(db: Db, domainId: number, emails: string[]): Stmt[] {
  if (!isMysql(db)) return [];
  const out: Stmt[] = [];
  for (let i = 0; i < emails.length; i += 1000) {
    const some = emails.slice(i, i + 1000);
    const list = placeholders(some.length);
    out.push(
      sql(
        db,
        'select (select 1 union all select 1 from `suppressions` where `domain_id` = ? and `email` in ' +
          list +
          ' union all select 1 from `suppression_entries` as `e` where `e`.`email` in ' +
          list +
          ' and `e`.`list_id` is null and (`e`.`user_id` is null or `e`.`user_id` = (select `user_id` from `sender_domains` where `id` = ?))) as `unsuppressed`',
        [domainId, ...some, ...some, domainId],
      ),
    );
  }
  return out;
}

/** The error a suppression guard (or the Idempotency-Key lease check, keys.ts leaseHeldCheck) fails with. */
export function isCheckFailure(err: unknown): boolean {
  return (err as { code?: string })?.code === 'ER_SUBQUERY_NO_1_ROW';
}

type Lookup = { domainId: number; listId?: number; emails: string[] };

/**
 * suppressedAmong for the hot paths (each SMTP RCPT, each relayed message, each delivery checked again before it is
 * sent): lookups made at the same time are answered by one query per domain (and list, for lookups with `listId`)
 * instead of one each. `patterns` as suppressedAmong's (false for campaigns); each choice has its own batcher.
 */
export function suppressedAmongShared(store: Store, domainId: number, emails: string[], opts: LookupOptions = {}): Promise<Set<string>> {
  if (!emails.length) return Promise.resolve(new Set());
  const patterns = opts.patterns !== false;
  const c = store.batchers.get(
    patterns ? 'suppression' : 'suppression-no-patterns',
    () =>
      new Coalescer<Lookup, Set<string>>(
        async (items) => {
          // One query per domain and list (a campaign's copies share both).
          const key = (it: Lookup) => `${it.domainId}:${it.listId ?? ''}`;
          const groups = new Map<string, Lookup>();
          for (const it of items) {
            const group = groups.get(key(it));
            if (group) group.emails.push(...it.emails);
            else groups.set(key(it), { domainId: it.domainId, listId: it.listId, emails: [...it.emails] });
          }
          const found = new Map<string, Set<string>>();
          for (const [k, g] of groups) found.set(k, await suppressedAmong(store, g.domainId, g.emails, { patterns, listId: g.listId }));
          return items.map((it) => {
            const hits = found.get(key(it))!;
            return new Set(it.emails.map((e) => e.toLowerCase()).filter((e) => hits.has(e)));
          });
        },
        { name: patterns ? 'suppression' : 'suppression-no-patterns', maxItems: 500, maxInFlight: 2, overlapAfterMs: store.groupOverlapMs },
      ),
  );
  return c.submit({ domainId, listId: opts.listId, emails });
}

/** Adds (or keeps) an entry; the first reason recorded for an address stays. Returns true when it was new. */
export async function addSuppression(db: Db, domainId: number, email: string, reason: SuppressionReason, detail = ''): Promise<boolean> {
  const row = { domain_id: domainId, email: email.toLowerCase(), reason, detail: detail.slice(0, 1000), created_at: Date.now() };
  if (isMysql(db)) {
    // The insert itself says whether it added (INSERT IGNORE answers insertId 0 for an ignored row): two concurrent
    // adds (a one-click unsubscribe and its retry) both read nothing beforehand, and each recorded an event.
    const [id] = await db('suppressions').insert(row).onConflict(['domain_id', 'email']).ignore();
    return Number(id) > 0;
  }
  // SQLite: read before the insert, as its "inserted id" after an ignored insert is the connection's previous one;
  // its one connection runs one transaction at a time, so nothing can come between the read and the insert.
  const existing = await db('suppressions').where({ domain_id: domainId, email: email.toLowerCase() }).first('id');
  if (existing) return false;
  await db('suppressions').insert(row).onConflict(['domain_id', 'email']).ignore();
  return true;
}

export function presentSuppression(row: { id: number; email: string; reason: string; detail: string; created_at: number }) {
  return { SuppressionID: Number(row.id), EmailAddress: row.email, Reason: row.reason, Detail: row.detail, CreatedAt: formatTime(row.created_at) };
}
