/**
 * What the send path needs from lists, subscribers, templates and journeys. Every lookup that takes a
 * userId is owner-scoped: another user's id answers like a missing one.
 */
import type { Knex } from 'knex';
import { effectiveValues, FieldRow, fieldsOf, valuesFor } from './fields';
import type { SubscriberRow } from './subscribers';
import { scopedWhere } from '../suppression/scopes';

export interface TemplateContent {
  id: number;
  subject: string;
  html: string | null;
  text: string | null;
}

/** The owner's template, or null (not found / other owner). */
export async function templateFor(db: Knex, userId: number, templateId: number): Promise<TemplateContent | null> {
  if (!validId(templateId)) return null;
  const row = await db('templates').where({ id: templateId, user_id: userId }).first('id', 'subject', 'html', 'text');
  if (!row) return null;
  return { id: Number(row.id), subject: row.subject ?? '', html: row.html ?? null, text: row.text ?? null };
}

export interface SubscriberContext {
  id: number;
  listId: number;
  email: string;
  status: string;
  /** field values by key: 'EmailAddress', 'SubscriberID', 'ListID', each custom field's alias AND 'CustomField<ID>' */
  fields: Record<string, string>;
}

function validId(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 4294967295;
}

function contextOf(row: SubscriberRow, fields: FieldRow[], stored: Map<number, string> | undefined): SubscriberContext {
  // Aliases start with a letter (ALIAS_PATTERN), so no key can be `__proto__`.
  const map: Record<string, string> = {};
  map.EmailAddress = row.email;
  map.SubscriberID = String(row.id);
  map.ListID = String(row.list_id);
  for (const f of fields) {
    const value = effectiveValues([f], stored).get(Number(f.id)) ?? '';
    map[`CustomField${f.id}`] = value;
    if (f.alias) map[f.alias] = value;
  }
  return { id: Number(row.id), listId: Number(row.list_id), email: row.email, status: row.status, fields: map };
}

/** Does the owner have this list? */
export async function listExists(db: Knex, userId: number, listId: number): Promise<boolean> {
  if (!validId(listId)) return false;
  return !!(await db('lists').where({ id: listId, user_id: userId }).first('id'));
}

/** A subscriber of the owner's list (by id), or null. */
export async function subscriberFor(db: Knex, userId: number, listId: number, subscriberId: number): Promise<SubscriberContext | null> {
  if (!validId(listId) || !validId(subscriberId)) return null;
  const row: SubscriberRow | undefined = await db('subscribers')
    .join('lists', 'lists.id', 'subscribers.list_id')
    .where({ 'subscribers.id': subscriberId, 'subscribers.list_id': listId, 'lists.user_id': userId })
    .first('subscribers.*');
  if (!row) return null;
  const [fields, values] = await Promise.all([fieldsOf(db, listId), valuesFor(db, [Number(row.id)])]);
  return contextOf(row, fields, values.get(Number(row.id)));
}

/**
 * Subscribed members not suppressed for a send from the domain: not on the domain's list, nor on the list's own
 * (PerList), its owner's (AccountWide) or the SystemWide suppression entries.
 */
function eligibleMembers(db: Knex, listId: number, suppressDomainId: number): Knex.QueryBuilder {
  const owner = db.raw('(select ?? from ?? where ?? = ?)', ['user_id', 'lists', 'id', listId]);
  return db('subscribers as s')
    .where({ 's.list_id': listId, 's.status': 'Subscribed' })
    .whereNotExists(db('suppressions as x').select(db.raw('1')).where('x.domain_id', suppressDomainId).whereRaw('x.email = s.email'))
    .whereNotExists(scopedWhere(db('suppression_entries as e').select(db.raw('1')).whereRaw('e.email = s.email'), db, owner, [listId]));
}

/** Subscribed members, excluding emails suppressed on the given sender domain: by email ascending (mode 'email') or by id ascending after `afterId` (mode 'id'), at most `limit`. */
export async function subscribedMembers(
  db: Knex,
  listId: number,
  suppressDomainId: number,
  opts: { order: 'email' | 'id'; limit: number; afterId?: number },
): Promise<SubscriberContext[]> {
  if (!validId(listId) || opts.limit < 1) return [];
  const q = eligibleMembers(db, listId, suppressDomainId).select('s.*').limit(Math.floor(opts.limit));
  if (opts.order === 'email') q.orderBy('s.email', 'asc');
  else {
    if (opts.afterId !== undefined) q.where('s.id', '>', opts.afterId);
    q.orderBy('s.id', 'asc');
  }
  const rows: SubscriberRow[] = await q;
  if (!rows.length) return [];
  const [fields, values] = await Promise.all([
    fieldsOf(db, listId),
    valuesFor(
      db,
      rows.map((r) => Number(r.id)),
    ),
  ]);
  return rows.map((r) => contextOf(r, fields, values.get(Number(r.id))));
}

/**
 * How many members subscribedMembers would page through (subscribed, not suppressed on the domain), `page` members
 * (by id, any status) per statement: one count over the whole list costs some 5.6 µs a member with its suppression
 * probes on MariaDB, so past about 540,000 members it ran into DB_QUERY_TIMEOUT_MS and a large list could never be
 * launched. Each round finds its upper id along (list_id, id), then counts the eligible members up to it.
 */
export async function countSubscribedMembers(db: Knex, listId: number, suppressDomainId: number, page = 20_000): Promise<number> {
  if (!validId(listId)) return 0;
  let total = 0;
  for (let after = 0; ;) {
    const bound = (await db('subscribers')
      .where('list_id', listId)
      .where('id', '>', after)
      .orderBy('id')
      .offset(page - 1)
      .first('id')) as { id: unknown } | undefined;
    const q = eligibleMembers(db, listId, suppressDomainId).where('s.id', '>', after);
    if (bound) q.where('s.id', '<=', Number(bound.id));
    const [{ n }] = await q.count({ n: '*' });
    total += Number(n);
    if (!bound) return total;
    after = Number(bound.id);
  }
}

/** Marks a list member Unsubscribed (used by the tracking unsubscribe endpoint); returns whether a row changed. */
export async function markUnsubscribed(db: Knex, listId: number, subscriberId: number, at: number): Promise<boolean> {
  if (!validId(listId) || !validId(subscriberId)) return false;
  const n = await db('subscribers')
    .where({ id: subscriberId, list_id: listId })
    .whereNot({ status: 'Unsubscribed' })
    .update({ status: 'Unsubscribed', unsubscription_date: at, updated_at: at });
  return Number(n) > 0;
}

export async function journeyExists(db: Knex, userId: number, journeyId: number): Promise<boolean> {
  if (!validId(journeyId)) return false;
  return !!(await db('journeys').where({ id: journeyId, user_id: userId }).first('id'));
}

/** An action of one of the owner's journeys; when journeyId is given the action must belong to that journey. */
export async function actionExists(db: Knex, userId: number, journeyId: number | undefined, actionId: number): Promise<boolean> {
  if (!validId(actionId)) return false;
  const q = db('journey_actions as a').join('journeys as j', 'j.id', 'a.journey_id').where({ 'a.id': actionId, 'j.user_id': userId });
  if (journeyId !== undefined) q.where('a.journey_id', journeyId);
  return !!(await q.first('a.id'));
}
