import type { Knex } from 'knex';
import type { Db } from '../db';
import { formatTime } from '../auth/users';
import { isUniqueViolation } from '../db';
import { effectiveValues, FieldRow, saveValues } from './fields';

export interface SubscriberRow {
  id: number;
  list_id: number;
  email: string;
  status: string;
  subscription_date: number | null;
  subscription_ip: string;
  unsubscription_date: number | null;
  unsubscription_ip: string;
  source: string;
  created_at: number;
  updated_at: number;
}

export const STATUS = { subscribed: 'Subscribed', unsubscribed: 'Unsubscribed', pending: 'Opt-In Pending' } as const;
export const STATUSES: string[] = Object.values(STATUS);

/** A status as Octeth spells it, matched case-insensitively; undefined when it is none of ours. */
export function normalizeStatus(v: unknown): string | undefined {
  const s = String(v ?? '')
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, ' ');
  return STATUSES.find((x) => x.toLowerCase().replace(/-/g, ' ') === s);
}

export const SOURCES = ['CSVImport', 'API', 'Webhook', 'Manual', 'Other', 'Unknown'];

/** Octeth's subscriber dates: `Y-m-d` or `Y-m-d H:i:s`, taken as UTC. Returns epoch ms or undefined. */
export function parseOctethDate(v: unknown): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2}))?$/.exec(String(v ?? '').trim());
  if (!m) return undefined;
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1).map((x) => x ?? '0');
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const back = new Date(ms);
  if (
    back.getUTCFullYear() !== Number(y) ||
    back.getUTCMonth() !== Number(mo) - 1 ||
    back.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(s) > 59
  )
    return undefined;
  return ms;
}

/** Which of these addresses (lowercase) are on the suppression list of any of the owner's sender domains. */
export async function suppressedForOwner(db: Db | Knex.Transaction, userId: number, emails: string[]): Promise<Set<string>> {
  const lower = [...new Set(emails.map((e) => e.toLowerCase()))];
  const found = new Set<string>();
  for (let i = 0; i < lower.length; i += 1000) {
    const rows = await db('suppressions')
      .join('sender_domains', 'sender_domains.id', 'suppressions.domain_id')
      .where('sender_domains.user_id', userId)
      .whereIn('suppressions.email', lower.slice(i, i + 1000))
      .distinct('suppressions.email');
    for (const r of rows as { email: string }[]) found.add(String(r.email).toLowerCase());
  }
  return found;
}

/**
 * Octeth's subscriber row: standard fields, then every custom field both as `CustomFields{id: value}` and
 * as the flat `CustomField<ID>` columns Octeth's subscriber tables carry.
 */
export function presentSubscriber(
  row: SubscriberRow,
  fields: FieldRow[],
  stored: Map<number, string> | undefined,
  suppressed?: boolean,
): Record<string, unknown> {
  const values = effectiveValues(fields, stored);
  const out: Record<string, unknown> = {
    SubscriberID: Number(row.id),
    ListID: Number(row.list_id),
    EmailAddress: row.email,
    SubscriptionStatus: row.status,
    SubscriptionDate: formatTime(row.subscription_date),
    SubscriptionIP: row.subscription_ip,
    UnsubscriptionDate: formatTime(row.unsubscription_date),
    UnsubscriptionIP: row.unsubscription_ip,
    Source: row.source,
    CreatedAt: formatTime(row.created_at),
    CustomFields: Object.fromEntries([...values].map(([id, v]) => [String(id), v])),
  };
  for (const [id, v] of values) out[`CustomField${id}`] = v;
  if (suppressed !== undefined) out.Suppressed = suppressed;
  return out;
}

export type InsertOutcome = { id: number } | { duplicate: SubscriberRow };

/** Inserts a subscriber with its values; a concurrent or existing row with the same address answers `duplicate`. */
export async function insertSubscriber(db: Db, cols: Omit<SubscriberRow, 'id'>, values: Map<number, string>): Promise<InsertOutcome> {
  try {
    return await db.transaction(async (trx) => {
      const [id] = await trx('subscribers').insert(cols);
      await saveValues(trx, Number(id), values);
      return { id: Number(id) };
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const existing = await db('subscribers').where({ list_id: cols.list_id, email: cols.email }).first();
    if (!existing) throw err;
    return { duplicate: existing };
  }
}

export async function findSubscriber(db: Db | Knex.Transaction, listId: number, by: { id?: number; email?: string }): Promise<SubscriberRow | undefined> {
  const q = db('subscribers').where({ list_id: listId });
  if (by.id !== undefined) q.where({ id: by.id });
  if (by.email !== undefined) q.where({ email: by.email.trim().toLowerCase() });
  return q.first();
}
