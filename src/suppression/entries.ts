/** What the suppression.* commands share: the scope a ListID names, source filters and the entry shape. */
import type { Knex } from 'knex';
import type { CommandContext, Params } from '../command';
import { CommandError } from '../errors';
import { isEmail } from '../auth/user-fields';
import { findOwnedList } from '../lists/lists';
import { addressInput, scopeKey, SOURCES } from './scopes';

/** ListID 0 or absent: the caller's AccountWide entries; another id must be one of the caller's lists (else 4). */
export async function scopeOf(ctx: CommandContext, p: Params): Promise<{ key: string; listId: number | null; userId: number }> {
  const userId = ctx.user!.id;
  if (p.listid === undefined || p.listid === '' || Number(p.listid) === 0) return { key: scopeKey({ userId }), listId: null, userId };
  const list = await findOwnedList(ctx.db, userId, p.listid);
  if (!list) throw new CommandError([4]);
  return { key: scopeKey({ listId: Number(list.id) }), listId: Number(list.id), userId };
}

/** A comma-separated SuppressionSource filter; `code` when a value is not one of upstream's five. */
export function sourceFilter(v: unknown, code: number): string[] | undefined {
  if (v === undefined || v === '') return undefined;
  const list = String(v)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const known = list.map((s) => SOURCES.find((x) => x.toLowerCase() === s.toLowerCase()));
  if (!known.length || known.some((k) => !k)) throw new CommandError([code]);
  return known as string[];
}

/** `*` wildcards of SearchPattern as a LIKE pattern (everything else literal, `!` the escape). */
export function likePattern(v: unknown): string | undefined {
  if (v === undefined || v === '') return undefined;
  return String(v)
    .toLowerCase()
    .replace(/[!%_]/g, (c) => '!' + c)
    .replace(/\*/g, '%');
}

/** Valid addresses (trimmed) and the ones that are not, from EmailAddresses and EmailAddressesBulk. */
export function addressesOf(p: Params): { valid: string[]; failed: string[]; given: boolean; malformedJson: boolean } {
  const given = [p.emailaddresses, p.emailaddressesbulk].some((v) => v !== undefined && v !== '');
  const { list, malformedJson } = addressInput(p.emailaddresses, p.emailaddressesbulk);
  return { valid: list.filter((e) => isEmail(e)), failed: list.filter((e) => !isEmail(e)), given, malformedJson };
}

export function presentEntry(r: { id: number; list_id: number | null; user_id: number | null; email: string; source: string; reason: string }) {
  return {
    SuppressionID: String(r.id),
    RelListID: String(r.list_id ?? 0),
    RelOwnerUserID: String(r.user_id ?? 0),
    EmailAddress: r.email,
    SuppressionSource: r.source,
    Reason: r.reason,
  };
}

/** The entries of one scope (as scopeOf) with browse's and stats' filters: SearchPattern and SuppressionSource (bad source → `code`). */
export async function filteredEntries(ctx: CommandContext, p: Params, code: number): Promise<{ q: Knex.QueryBuilder }> {
  const sources = sourceFilter(p.suppressionsource, code);
  const scope = await scopeOf(ctx, p);
  const q = ctx.db('suppression_entries').where({ scope_key: scope.key });
  const like = likePattern(p.searchpattern);
  if (like) q.whereRaw(`email like ? escape '!'`, [like]);
  if (sources) q.whereIn('source', sources);
  // Wrapped: a query builder is thenable, and returning it bare from an async function would run it.
  return { q };
}
