/** The peer-style `/api/v1/contacts` view of subscribers: lowercase statuses and a `name` kept in the list's `Name` field. */
import type { Db } from '../db';
import { isUniqueViolation, whereInIds } from '../db';
import type { SubscriberRow } from './subscribers';
import { STATUS } from './subscribers';

export const CONTACT_STATUS = new Map<string, string>([
  ['subscribed', STATUS.subscribed],
  ['unsubscribed', STATUS.unsubscribed],
  ['pending', STATUS.pending],
]);

export function contactStatus(status: string): string {
  return [...CONTACT_STATUS].find(([, v]) => v === status)?.[0] ?? status.toLowerCase();
}

/** The `Name`-aliased field of each list (alias matched case-insensitively): list id → field id. */
export async function nameFields(db: Db, listIds: number[]): Promise<Map<number, number>> {
  if (!listIds.length) return new Map();
  const rows = await db('list_custom_fields').whereIn('list_id', listIds).whereRaw('lower(alias) = ?', ['name']).select('id', 'list_id');
  return new Map(rows.map((r: { id: number; list_id: number }) => [Number(r.list_id), Number(r.id)]));
}

/** The list's `Name` field, created on first use so a contact's name has somewhere to live. */
export async function ensureNameField(db: Db, listId: number): Promise<number> {
  const existing = (await nameFields(db, [listId])).get(listId);
  if (existing) return existing;
  try {
    const [id] = await db('list_custom_fields').insert({
      list_id: listId,
      name: 'Name',
      field_type: 'Single line',
      alias: 'Name',
      default_value: '',
      created_at: Date.now(),
    });
    return Number(id);
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    return (await nameFields(db, [listId])).get(listId)!;
  }
}

export function presentContact(row: SubscriberRow, name: string, suppressed: boolean): Record<string, unknown> {
  return {
    id: Number(row.id),
    email: row.email,
    name,
    status: contactStatus(row.status),
    listId: Number(row.list_id),
    suppressed,
    createdAt: new Date(Number(row.created_at)).toISOString(),
  };
}

/**
 * One page of the members of `lists` (an account's, or one list), by id, optionally of one status. Filtered by the
 * list ids, not joined with lists: joined, MariaDB sorted every member of the account to answer a page (3.7 s for
 * page 1 at 2,000,000 members); given the ids it walks the primary key in order and stops at the page
 * (bench/account-overview.ts).
 */
export function contactPage(db: Db, lists: number[], status: string | undefined, limit: number, page: number): Promise<SubscriberRow[]> {
  if (!lists.length) return Promise.resolve([]);
  return contactsOf(db, lists, status)
    .select('s.*')
    .orderBy('s.id')
    .limit(limit)
    .offset((page - 1) * limit);
}

/**
 * A total that may be reused (counted a while ago) made consistent with a page just read at `offset`: a full page
 * means at least `offset + limit`; a short one, or page 1, ends the listing, so the total is exact; an empty page past
 * the first means at most `offset`.
 */
export function totalWithPage(total: number, offset: number, limit: number, rows: number): number {
  if (rows === limit) return Math.max(total, offset + limit);
  if (rows > 0 || offset === 0) return offset + rows;
  return Math.min(total, offset);
}

/** How many members `lists` have (of one status). It grows with the account: callers reuse it where it is costly. */
export async function contactTotal(db: Db, lists: number[], status: string | undefined): Promise<number> {
  if (!lists.length) return 0;
  const [{ n }] = (await contactsOf(db, lists, status).count({ n: '*' })) as { n: unknown }[];
  return Number(n);
}

function contactsOf(db: Db, lists: number[], status: string | undefined) {
  const q = whereInIds(db, db('subscribers as s'), 's.list_id', lists);
  if (status) q.where('s.status', status);
  return q;
}
