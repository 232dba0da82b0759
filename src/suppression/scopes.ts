/**
 * Upstream's suppression scopes (compat notes §6.6): PerList, AccountWide and SystemWide entries beside each
 * sender domain's own list, install-wide patterns and each account's whitelist. The send path consults them
 * through suppressedAmong (src/suppression/suppressions.ts); suppression.* commands read and write them.
 */
import type { Knex } from 'knex';
import type { Store } from '../store/store';
import { linearRegExp } from './linear-regexp';
import type { Pattern } from './pattern';

export const SOURCES = ['Administrator', 'User', 'SPAM complaint', 'Hard Bounced', 'Unsubscribe'] as const;
export type Scope = 'PerList' | 'AccountWide' | 'SystemWide';

export function scopeKey(s: { listId?: number | null; userId?: number | null }): string {
  return s.listId ? `l:${s.listId}` : s.userId ? `u:${s.userId}` : 's';
}

export function scopeName(row: { list_id: number | null; user_id: number | null }): Scope {
  return row.list_id ? 'PerList' : row.user_id ? 'AccountWide' : 'SystemWide';
}

/** Entries of the account and system scopes, and (with lists) of those lists, that apply to these addresses. */
export function scopedWhere(q: Knex.QueryBuilder, db: Knex, userIdSql: Knex.Raw | number, listIds: number[] = []): Knex.QueryBuilder {
  return q.where((w) => {
    w.where((x) => x.whereNull('e.list_id').where((y) => y.whereNull('e.user_id').orWhere('e.user_id', userIdSql as never)));
    if (listIds.length) w.orWhereIn('e.list_id', listIds);
  });
}

/**
 * Patterns are the administrator's, at most 200 characters. STRPOS (a substring with `*` wildcards) matches without a
 * regular expression: as `.*`s, eight wildcards took minutes on one address. REGEXP types run on V8's linear-time
 * engine (linear-regexp.ts); one it cannot run (set before that rule) is skipped, as an invalid one always was.
 */
function compile(kind: string, pattern: string): Pattern | null {
  if (kind === 'STRPOS') {
    const anywhere = `*${pattern}*`;
    return { kind, test: (e) => wildcardMatch(anywhere, e) };
  }
  try {
    const re = linearRegExp(pattern);
    return { kind, test: kind === 'NOT REGEXP' ? (e) => !re.test(e) : (e) => re.test(e) };
  } catch {
    return null;
  }
}

/** The install's patterns, reread at most every 10 seconds (kept in the store: src/store/store.ts). */
export function patterns(store: Store): Promise<Pattern[]> {
  return store.suppressionPatterns.get(() =>
    store
      .db('suppression_patterns')
      .select('kind', 'pattern')
      .then((rows: { kind: string; pattern: string }[]) => rows.map((r) => compile(r.kind, r.pattern)).filter((p): p is Pattern => !!p)),
  );
}

export async function patternSuppressed(store: Store, email: string): Promise<boolean> {
  return (await patterns(store)).some((p) => p.test(email));
}

/**
 * The account's whitelist (at most 1,000 entries), read once, as a test of an address. Entries are addresses with
 * optional `*` wildcards, matched without regular expressions (an account's own pattern must not be able to stall
 * the delivery worker); plain addresses are looked up in a set, so testing many addresses costs one query.
 */
export async function whitelistOf(db: Knex, userId: number): Promise<(email: string) => boolean> {
  const entries: string[] = await db('suppression_whitelist').where({ user_id: userId }).pluck('entry');
  const exact = new Set(entries.filter((w) => !w.includes('*')));
  const wild = entries.filter((w) => w.includes('*'));
  return (email) => {
    const e = email.toLowerCase();
    return exact.has(e) || wild.some((w) => wildcardMatch(w, e));
  };
}

/** Does the account's whitelist cover the address? */
export async function whitelisted(db: Knex, userId: number, email: string): Promise<boolean> {
  return (await whitelistOf(db, userId))(email);
}

export function wildcardMatch(pattern: string, s: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === s;
  if (!s.startsWith(parts[0])) return false;
  let at = parts[0].length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = s.indexOf(parts[i], at);
    if (found < 0) return false;
    at = found + parts[i].length;
  }
  const last = parts[parts.length - 1];
  return s.length - last.length >= at && s.endsWith(last);
}

/** Upstream's address lists: a JSON array (or its JSON text) and/or newline-separated text; blank lines skipped. */
export function addressInput(json: unknown, bulk: unknown): { list: string[]; malformedJson: boolean } {
  const out: string[] = [];
  let malformedJson = false;
  if (json !== undefined && json !== null && json !== '') {
    let v = json;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v);
      } catch {
        malformedJson = true;
      }
    }
    // Loops, not push(...list): spreading passes each entry as an argument, and 130,000 of them overflowed the stack
    // (a 500 where the import's "more than 50,000" error belonged). An entry that is an object or array is malformed:
    // String() of one nested thousands deep overflowed too.
    if (Array.isArray(v)) {
      for (const x of v) {
        if (x !== null && typeof x === 'object') malformedJson = true;
        else out.push(String(x).trim());
      }
    } else malformedJson = true;
  }
  if (typeof bulk === 'string') for (const line of bulk.split(/\r?\n/)) out.push(line.trim());
  return { list: out.filter(Boolean), malformedJson };
}
