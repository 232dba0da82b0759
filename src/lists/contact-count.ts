import type { Knex } from 'knex';
import { unionOfReads, whereInIds } from '../db';
import { CostBoundedCache } from '../store/cost-bounded';

/** Lists per statement (SQLite allows 500 terms in a compound select, and 32,766 bound values). */
const LISTS_PER_STATEMENT = 200;

type Bound = { listId: number; email: string };

/** Rows `(list_id, email)` among `bounds`, in statements of LISTS_PER_STATEMENT. */
async function amongBounds(db: Knex, bounds: Bound[], read: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < bounds.length; i += LISTS_PER_STATEMENT) {
    const some = bounds.slice(i, i + LISTS_PER_STATEMENT);
    const q = db('subscribers').where((w) => {
      for (const b of some) w.orWhere((x) => x.where('list_id', b.listId).where('email', b.email));
    });
    out.push(...((await read(q)) as Record<string, unknown>[]));
  }
  return out;
}

/** The smallest bound's address, in the database's order (null: none): each statement's smallest, until one is left. */
async function smallest(db: Knex, bounds: Bound[]): Promise<string | null> {
  while (bounds.length > 1) {
    const firsts = await amongBounds(db, bounds, (q) => q.orderBy('email').limit(1).select('list_id', 'email'));
    bounds = firsts.map((r) => ({ listId: Number(r.list_id), email: String(r.email) }));
  }
  return bounds[0]?.email ?? null;
}

/**
 * The distinct addresses on a user's lists (account.overview's Contacts), with no statement reading more than
 * `page` addresses of any list. One COUNT(DISTINCT) over every subscriber took 1.3 s at 2,000,000 rows on MariaDB
 * (bench/account-overview.ts) and grows with the account until it passes DB_QUERY_TIMEOUT_MS.
 *
 * The addresses are walked in the database's order in rounds. Each list has a bound: its `page`-th address past the
 * cursor when it was last read (a range of its (list_id, email) index); a round counts the distinct addresses from
 * the cursor up to the smallest bound, so no list gives it more than `page` rows, and an address on several lists
 * falls in one round, so the rounds add up. Only the lists whose bound the cursor reached are read again. A list with
 * fewer than `page` addresses left bounds nothing, and a round with no bound left is the last (for most accounts, the
 * first). Every comparison of two addresses is made by the database, in its collation, against the indexed column:
 * JavaScript orders '_' and letters differently from MariaDB's.
 */
export async function countContacts(db: Knex, userId: number, page: number): Promise<number> {
  const lists = ((await db('lists').where({ user_id: userId }).pluck('id')) as unknown[]).map(Number);
  if (!lists.length) return 0;
  // The ids, not a subquery: given one, MariaDB read every member of each list (ref on list_id, 750 ms a round at
  // 2,000,000 rows) instead of the round's range of (list_id, email).
  const members = () => whereInIds(db, db('subscribers'), 'list_id', lists);
  let unread = lists;
  let bounds: Bound[] = [];
  let total = 0;
  for (let after: string | null = null; ;) {
    for (let i = 0; i < unread.length; i += LISTS_PER_STATEMENT) {
      const reads = unread.slice(i, i + LISTS_PER_STATEMENT).map((listId) => {
        const q = db('subscribers').where('list_id', listId);
        if (after !== null) q.where('email', '>', after);
        return q
          .orderBy('email')
          .offset(page - 1)
          .limit(1)
          .select('list_id', 'email');
      });
      for (const r of (await unionOfReads(db, reads)) as { list_id: unknown; email: string }[]) bounds.push({ listId: Number(r.list_id), email: r.email });
    }
    const end = await smallest(db, bounds);
    const q = members();
    if (after !== null) q.where('email', '>', after);
    if (end !== null) q.where('email', '<=', end);
    // One list holds each address once (its unique (list_id, email)): a plain count, cheaper than a distinct one.
    const [row] = (await (lists.length === 1 ? q.count({ n: '*' }) : q.countDistinct({ n: 'email' }))) as { n: unknown }[];
    total += Number(row?.n ?? 0);
    if (end === null) return total;
    after = end;
    // The bounds still past the new cursor stay; the lists whose bound it reached are read again.
    const live = new Set((await amongBounds(db, bounds, (q) => q.where('email', '>', end).select('list_id'))).map((r) => Number(r.list_id)));
    unread = bounds.filter((b) => !live.has(b.listId)).map((b) => b.listId);
    bounds = bounds.filter((b) => live.has(b.listId));
  }
}

export interface ContactCountOptions {
  /** Addresses per list per counting statement (CONTACT_COUNT_PAGE). */
  page: number;
  /** An account counted faster than this is counted afresh on every read (CONTACT_COUNT_LIVE_MS). */
  liveMs: number;
}

/**
 * Each account's contact count, and the totals GET /api/v1/contacts pages through, bounded in cost as campaign
 * progress is (src/store/cost-bounded.ts).
 */
export class ContactCounts {
  private readonly counts: CostBoundedCache<number, number>;
  private readonly totals: CostBoundedCache<string, number>;

  constructor(private readonly opts: ContactCountOptions) {
    this.counts = new CostBoundedCache(opts.liveMs);
    this.totals = new CostBoundedCache(opts.liveMs);
  }

  countOf(db: Knex, userId: number, onRefreshError: (err: unknown) => void): Promise<number> {
    return this.counts.get(userId, () => countContacts(db, userId, this.opts.page), onRefreshError);
  }

  /** A listing's total (`key` names what it counts), counted by `count` when it must be. */
  totalOf(key: string, count: () => Promise<number>, onRefreshError: (err: unknown) => void): Promise<number> {
    return this.totals.get(key, count, onRefreshError);
  }

  /** Waits for every count this process has running (before its database closes). */
  async idle(): Promise<void> {
    await Promise.all([this.counts.idle(), this.totals.idle()]);
  }
}
