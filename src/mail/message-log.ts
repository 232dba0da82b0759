import type { Knex } from 'knex';
import { containsPattern, isMysql, type Db } from '../db';
import { messageStatus } from './lookup';
import { MESSAGE_STATUS_SQL, statusCandidates } from './message-status-sql';
import { shownStatusSql } from '../delivery/leased';

/**
 * The user-session message log (emailgateway.getmessagelog): one user's messages, newest first, paged by a
 * keyset cursor instead of an offset and without a total count. Both stay cheap at millions of messages: a
 * page reads the (user_id, created_at) or (domain_id, created_at) index from the cursor on and stops after
 * one row more than the page, where OFFSET and COUNT(*) would walk every row before it.
 */
export interface LogFilter {
  userId: number;
  /** One of the user's domains (checked by the caller); absent = all of them. */
  domainId?: number;
  /** Several of the user's domains (an account key's scope); ignored when domainId is set. */
  domainIds?: number[];
  /** Epoch ms, inclusive. */
  from?: number;
  to?: number;
  recipient?: string;
  /** Any recipient in this status, or in one of these. */
  status?: string | string[];
  /** The message's own status (messageStatus over all its recipients, as the log shows it) is one of these ... */
  messageStatus?: string[];
  /** ... or none of these (messagesByOffset counts the rest so). */
  messageStatusNot?: string[];
  tag?: string;
}

export interface Cursor {
  createdAt: number;
  id: string;
}

const CURSOR = /^(\d{1,15})_([0-9a-f-]{36})$/i;

/**
 * A NextCursor given back as Before. Its id is a message id, a UUID written in lowercase: an uppercased one is the
 * same id, and is lowercased here because the page's tie-break compares ids (`id < ?`), which the embedded store
 * does byte by byte, uppercase before lowercase.
 */
export function parseCursor(v: unknown): Cursor | null {
  const m = typeof v === 'string' ? CURSOR.exec(v) : null;
  return m ? { createdAt: Number(m[1]), id: m[2].toLowerCase() } : null;
}

const cursorOf = (r: { created_at: unknown; id: string }) => `${Number(r.created_at)}_${r.id}`;

/**
 * MariaDB, given `user_id = ? AND created_at < ?` with ORDER BY created_at DESC LIMIT n, reads the index by
 * user_id alone from the newest row and filters each row it fetches (it assumes the rows past the cursor are
 * spread evenly): 46 s for a page in the middle of 1,000,000 messages. Naming the index makes it a range scan
 * that starts at the cursor (0.04 s). A Recipient search is left to the optimizer: it starts from the few
 * deliveries to that address instead.
 */
function source(db: Db, f: LogFilter): string | Knex.Raw {
  if (!isMysql(db) || f.recipient !== undefined) return 'messages';
  const index = f.domainId !== undefined ? 'messages_domain_id_created_at_index' : 'messages_user_created_idx';
  return db.raw('?? force index (??)', ['messages', index]);
}

/**
 * A message status's candidates first (distinct, so a table of their own), then each message by its key. Named in
 * that order on MariaDB: given ORDER BY created_at it walked the messages in date order to skip a sort, probing every
 * message's deliveries before the candidates ruled it out (2.2 s for page 150 of 6,000 bounced among 200,000).
 */
function fromCandidates(db: Db, candidates: Knex.QueryBuilder): Knex.QueryBuilder {
  const join = isMysql(db) ? 'straight_join' : 'cross join';
  return db.from(candidates.as('candidates')).joinRaw(`${join} ?? on ?? = ??`, ['messages', 'messages.id', 'candidates.message_id']);
}

function filtered(db: Db, f: LogFilter, before: Cursor | null): Knex.QueryBuilder {
  // A sender key's scope is its one domain: read that domain's index rather than the user's filtered by domain.
  if (f.domainId === undefined && f.domainIds?.length === 1) f = { ...f, domainId: f.domainIds[0] };
  const candidates = messageStatusCandidates(db, f);
  // One domain (the command checked it is the caller's) or all of the user's: either way the index alone decides.
  const q: Knex.QueryBuilder = candidates ? fromCandidates(db, candidates) : db.from(source(db, f));
  if (f.domainId !== undefined) q.where('messages.domain_id', f.domainId);
  else {
    q.where('messages.user_id', f.userId);
    if (f.domainIds) q.whereIn('messages.domain_id', f.domainIds);
  }
  if (f.from !== undefined) q.where('messages.created_at', '>=', f.from);
  if (f.to !== undefined) q.where('messages.created_at', '<=', f.to);
  if (before) {
    // The plain `<=` bounds the index range; the OR breaks ties on the same millisecond by id.
    q.where('messages.created_at', '<=', before.createdAt).where((w) =>
      w
        .where('messages.created_at', '<', before.createdAt)
        .orWhere((x) => x.where('messages.created_at', before.createdAt).where('messages.id', '<', before.id)),
    );
  }
  if (f.tag !== undefined) q.whereRaw(`messages.tags like ? escape '!'`, [containsPattern(JSON.stringify(f.tag))]);
  if (f.recipient !== undefined) {
    // MariaDB's collation already ignores case (and so can use the (user_id, recipient) index); SQLite's does not.
    const recipient = f.recipient.toLowerCase();
    const sub = db('deliveries').select('deliveries.message_id').where('deliveries.user_id', f.userId);
    if (isMysql(db)) sub.where('deliveries.recipient', recipient);
    else sub.whereRaw('lower(deliveries.recipient) = ?', [recipient]);
    q.whereIn('messages.id', sub);
  }
  if (f.status !== undefined) {
    // A scalar subquery, probed per message until the page is full: MariaDB turns EXISTS into a semi-join that
    // first reads every delivery with that status (2.9 s for 3 % of 1,000,000).
    const statuses = Array.isArray(f.status) ? f.status : [f.status];
    q.whereRaw(
      // The status each shows (a leased one 'sending': leased.ts).
      `(select 1 from deliveries where deliveries.message_id = messages.id and ${shownStatusSql('deliveries')} in (${statuses.map(() => '?').join(',')}) limit 1) is not null`,
      statuses,
    );
  }
  for (const [how, statuses] of [['in', f.messageStatus] as const, ['not in', f.messageStatusNot] as const]) {
    if (statuses) q.whereRaw(`${MESSAGE_STATUS_SQL} ${how} (${statuses.map(() => '?').join(',')})`, statuses);
  }
  return q;
}

function messageStatusCandidates(db: Db, f: LogFilter): Knex.QueryBuilder | null {
  if (f.messageStatus) return statusCandidates(db, f.userId, 'in', f.messageStatus);
  if (f.messageStatusNot) return statusCandidates(db, f.userId, 'not in', f.messageStatusNot);
  return null;
}

/**
 * The messages the filters match. Delivered among the statuses asked for would probe every message's deliveries:
 * most are delivered, so those that are not (found from their deliveries) are counted and taken from the total.
 */
async function countOf(db: Db, f: LogFilter): Promise<number> {
  const count = async (g: LogFilter) => Number((await filtered(db, g, null).count({ n: '*' }))[0].n);
  if (!f.messageStatus?.includes('delivered')) return count(f);
  const { messageStatus, ...rest } = f;
  const [all, others] = await Promise.all([count(rest), count({ ...rest, messageStatusNot: messageStatus })]);
  return all - others;
}

/**
 * Octeth's paged list (emailgateway.getmessages: Page, Total, Pages), on the same filters and indexes. The total
 * and the skipped rows are counted from the index alone where the filters allow, and only the page's rows are
 * read (a late join): at 1,000,000 messages COUNT plus OFFSET over whole rows took 2 s for page 1 and 30 s for
 * page 5,000, past the statement timeout. Deep pages still cost in proportion to their depth: the cursor-paged
 * log above is the one that stays flat.
 */
export async function messagesByOffset(db: Db, f: LogFilter, offset: number, limit: number): Promise<{ total: number; rows: Record<string, any>[] }> {
  const total = await countOf(db, f);
  const page = filtered(db, f, null)
    .orderBy('messages.created_at', 'desc')
    .orderBy('messages.id', 'desc')
    .limit(limit)
    .offset(offset)
    .select('messages.id as pid', 'messages.created_at as pat');
  const rows: Record<string, any>[] = await db
    .from(page.as('p'))
    .join('messages', 'messages.id', 'p.pid')
    .orderBy('p.pat', 'desc')
    .orderBy('p.pid', 'desc')
    .select('messages.id', 'messages.from_email', 'messages.subject', 'messages.tags', 'messages.created_at');
  return { total, rows };
}

export async function messageLog(db: Db, f: LogFilter, before: Cursor | null, limit: number) {
  // No join here: with sender_domains joined, MariaDB read the index by user_id alone and filtered every row
  // up to the cursor (80 ms at 20,000 messages) instead of starting its range scan at the cursor.
  // The page's ids first, from the index alone where the filters allow (a late join): only its rows are read.
  const page = filtered(db, f, before)
    .orderBy('messages.created_at', 'desc')
    .orderBy('messages.id', 'desc')
    .limit(limit + 1)
    .select('messages.id as pid', 'messages.created_at as pat');
  const rows: Record<string, any>[] = await db
    .from(page.as('p'))
    .join('messages', 'messages.id', 'p.pid')
    .orderBy('p.pat', 'desc')
    .orderBy('p.pid', 'desc')
    .select('messages.id', 'messages.domain_id', 'messages.from_email', 'messages.subject', 'messages.tags', 'messages.created_at', 'messages.send_at');
  const more = rows.length > limit;
  const shown = rows.slice(0, limit);
  const ids = shown.map((r) => r.id as string);
  const domainIds = [...new Set(shown.map((r) => Number(r.domain_id)))];
  const [deliveries, domains]: [{ message_id: string; recipient: string; status: string }[], { id: number; domain: string }[]] = ids.length
    ? await Promise.all([
        db('deliveries')
          .whereIn('message_id', ids)
          .orderBy('id')
          .select('message_id', 'recipient', db.raw(`${shownStatusSql('deliveries')} as status`)),
        db('sender_domains').whereIn('id', domainIds).select('id', 'domain'),
      ])
    : [[], []];
  const domainName = new Map(domains.map((d) => [Number(d.id), d.domain]));
  const byMessage = new Map<string, { recipient: string; status: string }[]>();
  for (const d of deliveries) (byMessage.get(d.message_id) ?? byMessage.set(d.message_id, []).get(d.message_id)!).push(d);
  return {
    Messages: shown.map((r) => {
      const mine = byMessage.get(r.id) ?? [];
      return {
        MessageID: r.id,
        DomainID: Number(r.domain_id),
        SenderDomain: domainName.get(Number(r.domain_id)) ?? null,
        From: r.from_email,
        Subject: r.subject,
        Tags: JSON.parse(r.tags),
        Status: messageStatus(mine.map((d) => d.status)),
        Recipients: mine.map((d) => ({ Email: d.recipient, Status: d.status })),
        CreatedAt: new Date(Number(r.created_at)).toISOString(),
        SendAt: r.send_at === null || r.send_at === undefined ? null : new Date(Number(r.send_at)).toISOString(),
      };
    }),
    HasMore: more,
    NextCursor: more ? cursorOf(shown[shown.length - 1] as { created_at: unknown; id: string }) : null,
  };
}
