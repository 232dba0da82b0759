import type { Db } from '../db';
import { whereInIds } from '../db';
import type { Params } from '../command';
import { formatTime } from '../auth/users';
import { isEmail } from '../auth/user-fields';

export interface ListRow {
  id: number;
  user_id: number;
  name: string;
  description: string;
  opt_in_mode: string;
  sender_name: string;
  sender_email_address: string;
  sender_company: string;
  sender_address: string;
  created_at: number;
  updated_at: number;
}

/** The owner's list, or undefined: another user's list is indistinguishable from a missing one. */
export async function findOwnedList(db: Db, userId: number, listId: unknown): Promise<ListRow | undefined> {
  const id = Number(listId);
  if (!Number.isInteger(id) || id < 1) return undefined;
  return db('lists').where({ id, user_id: userId }).first();
}

export const OPT_IN_MODES = ['Single', 'Double'];

/**
 * List settings from list.create / list.update parameters. Returns the columns to write and the
 * problems found, by kind, so each command maps them to its own codes.
 */
export function listColumns(p: Params, nameKeys: string[]): { cols: Partial<ListRow>; badOptIn: boolean; badSender: boolean; badName: boolean } {
  const cols: Partial<ListRow> = {};
  let badName = false;
  for (const k of nameKeys) {
    if (p[k] === undefined) continue;
    const name = String(p[k]).trim();
    if (!name) badName = true;
    else cols.name = name.slice(0, 255);
    break;
  }
  if (p.description !== undefined) cols.description = String(p.description).slice(0, 1000);
  let badOptIn = false;
  if (p.optinmode !== undefined) {
    const mode = OPT_IN_MODES.find((m) => m.toLowerCase() === String(p.optinmode).trim().toLowerCase());
    if (mode) cols.opt_in_mode = mode;
    else badOptIn = true;
  }
  let badSender = false;
  if (p.senderemailaddress !== undefined) {
    const email = String(p.senderemailaddress).trim();
    if (email && !isEmail(email)) badSender = true;
    else cols.sender_email_address = email;
  }
  if (p.sendername !== undefined) cols.sender_name = String(p.sendername).slice(0, 255);
  if (p.sendercompany !== undefined) cols.sender_company = String(p.sendercompany).slice(0, 255);
  if (p.senderaddress !== undefined) cols.sender_address = String(p.senderaddress).slice(0, 1000);
  return { cols, badOptIn, badSender, badName };
}

/** Counts by status for some lists of one owner. */
export async function statusCounts(db: Db, listIds: number[]): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>();
  if (!listIds.length) return out;
  // lists.get's RecordsPerRequest=0 (all) names every list of the account, which has no cap: past 10,000 on SQLite, one JSON array.
  const rows = await whereInIds(db, db('subscribers'), 'list_id', listIds).groupBy('list_id', 'status').select('list_id', 'status').count({ n: '*' });
  for (const r of rows as { list_id: number; status: string; n: number | string }[]) {
    const m = out.get(Number(r.list_id)) ?? {};
    m[r.status] = Number(r.n);
    out.set(Number(r.list_id), m);
  }
  return out;
}

export function presentList(row: ListRow, counts: Record<string, number> = {}, withStats = false): Record<string, unknown> {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const list: Record<string, unknown> = {
    ListID: Number(row.id),
    Name: row.name,
    RelOwnerUserID: Number(row.user_id),
    Description: row.description,
    OptInMode: row.opt_in_mode,
    SenderName: row.sender_name,
    SenderEmailAddress: row.sender_email_address,
    SenderCompany: row.sender_company,
    SenderAddress: row.sender_address,
    CreatedAt: formatTime(row.created_at),
    SubscriberCount: total,
    Options: { OptInMode: row.opt_in_mode },
  };
  if (withStats) {
    list.Stats = {
      TotalSubscribers: total,
      Subscribed: counts['Subscribed'] ?? 0,
      Unsubscribed: counts['Unsubscribed'] ?? 0,
      OptInPending: counts['Opt-In Pending'] ?? 0,
    };
  }
  return list;
}
