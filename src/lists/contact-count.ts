import type { Knex } from 'knex';
import { unionOfReads } from '../db';
import { CostBoundedCache } from '../store/cost-bounded';

/** Lists per statement when reading each list's page end (SQLite allows 500 terms in a compound select). */
const LISTS_PER_STATEMENT = 200;

/**
 * The distinct addresses on a user's lists (account.overview's Contacts), `page` addresses per list per statement.
 * One COUNT(DISTINCT) over every subscriber took 1.4-1.8 s at 2,000,000 rows on MariaDB (bench/account-overview.ts)
 * and grows with the account until it passes DB_QUERY_TIMEOUT_MS. Here the addresses are walked in order: each round
 * reads every list's `page`-th address past the cursor (a range of its (list_id, email) index) and counts the distinct
 * addresses up to the smallest of those, so no list gives a statement more than `page` rows; an address on several
 * lists falls in one round, so the rounds' counts add up. A round where every list has fewer than `page` left is the
 * last (for most accounts, the first).
 */
export async function countContacts(db: Knex, userId: number, page: number): Promise<number> {
  const lists = ((await db('lists').where({ user_id: userId }).pluck('id')) as unknown[]).map(Number);
  if (!lists.length) return 0;
  let total = 0;
  for (let after: string | null = null; ;) {
    let end: string | null = null;
    for (let i = 0; i < lists.length; i += LISTS_PER_STATEMENT) {
      const reads = lists.slice(i, i + LISTS_PER_STATEMENT).map((listId) => {
        const q = db('subscribers').where('list_id', listId);
        if (after !== null) q.where('email', '>', after);
        return q
          .orderBy('email')
          .offset(page - 1)
          .limit(1)
          .select('email');
      });
      // The database picks the smallest, in its collation's order. Across statements (over 200 lists) JavaScript's
      // order decides, which can only let a list give a round a few more rows: the rounds still split the addresses.
      const [row] = (await db.from(unionOfReads(db, reads).as('ends')).min({ end: 'email' })) as { end: string | null }[];
      if (row?.end != null && (end === null || row.end < end)) end = row.end;
    }
    const q = db('subscribers').whereIn('list_id', db('lists').where({ user_id: userId }).select('id'));
    if (after !== null) q.where('email', '>', after);
    if (end !== null) q.where('email', '<=', end);
    // One list holds each address once (its unique (list_id, email)): a plain count, cheaper than a distinct one.
    const [row] = (await (lists.length === 1 ? q.count({ n: '*' }) : q.countDistinct({ n: 'email' }))) as { n: unknown }[];
    total += Number(row?.n ?? 0);
    if (end === null) return total;
    after = end;
  }
}

export interface ContactCountOptions {
  /** Addresses per list per counting statement (CONTACT_COUNT_PAGE). */
  page: number;
  /** An account counted faster than this is counted afresh on every read (CONTACT_COUNT_LIVE_MS). */
  liveMs: number;
}

/** Each account's contact count, bounded in cost as campaign progress is (src/store/cost-bounded.ts). */
export class ContactCounts {
  private readonly counts: CostBoundedCache<number, number>;

  constructor(private readonly opts: ContactCountOptions) {
    this.counts = new CostBoundedCache(opts.liveMs);
  }

  countOf(db: Knex, userId: number, onRefreshError: (err: unknown) => void): Promise<number> {
    return this.counts.get(userId, () => countContacts(db, userId, this.opts.page), onRefreshError);
  }

  /** Waits for every count this process has running (before its database closes). */
  idle(): Promise<void> {
    return this.counts.idle();
  }
}
