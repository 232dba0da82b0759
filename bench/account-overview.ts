/**
 * npm run bench:account-overview — times account.overview's Contacts (GET /api/v1/stats; src/lists/contact-count.ts)
 * as an account's lists grow, on MariaDB and on SQLite: the one COUNT(DISTINCT) it replaced, a recount (rounds of
 * 20,000 addresses per list), and a poll (ContactCounts as the gateway has it). Then GET /api/v1/contacts over every
 * list, page 1 and the middle page, with its total counted afresh: the join with lists it replaced, and contactPage
 * with contactTotal (the gateway reuses a costly total as it does the contact count).
 *
 * The shape: BENCH_SIZES subscriber rows over four lists of one account, a quarter each, each list's second half
 * also on the next list (so 5/8 of the rows are distinct addresses), plus another account's list of a quarter of the
 * size beside them. Each size: 2 warm-ups, then BENCH_RUNS (5) reads of each form,
 * alternating; median and p95 printed, with the longest single statement of a recount, and the forms must agree.
 * Throw-away MariaDB database `postern_bench_overview_*` and SQLite file, both removed at the end. Knobs:
 * BENCH_MYSQL_URL, BENCH_SIZES (200000,2000000), BENCH_RUNS (5), BENCH_STORES (mariadb,sqlite).
 */
import type { Knex } from 'knex';
import { ContactCounts, countContacts } from '../src/lists/contact-count';
import { contactPage, contactTotal } from '../src/lists/contacts';
import { benchEachStore, seedSender, withScratchStore } from './scratch-store';
import { percentile } from './timing';

const SIZES = (process.env.BENCH_SIZES ?? '200000,2000000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CHUNK = 400;
const PAGE = 20_000;

/** The count before: one COUNT(DISTINCT) over every subscriber of the account (kept here to compare). */
async function oneStatement(db: Knex, userId: number): Promise<number> {
  const [row] = await db('subscribers as s').join('lists as l', 'l.id', 's.list_id').where('l.user_id', userId).countDistinct({ n: 's.email' });
  return Number((row as { n: unknown }).n);
}

/** GET /api/v1/contacts's page before: the members joined with the account's lists (kept here to compare). */
async function joinedPage(db: Knex, userId: number, page: number): Promise<{ ids: string; total: number }> {
  const q = db('subscribers as s').join('lists as l', 'l.id', 's.list_id').where('l.user_id', userId);
  const [{ n }] = (await q.clone().count({ n: '*' })) as { n: unknown }[];
  const rows = (await q
    .select('s.*')
    .orderBy('s.id')
    .limit(50)
    .offset((page - 1) * 50)) as { id: unknown }[];
  return { ids: rows.map((r) => Number(r.id)).join(), total: Number(n) };
}

/** Members `from`..`to`-1 of a list: addresses `<prefix><n>@list.bench.test`. */
async function members(db: Knex, listId: number, from: number, to: number, prefix: string, now: number): Promise<void> {
  for (let base = from; base < to; base += CHUNK) {
    const rows = Array.from({ length: Math.min(CHUNK, to - base) }, (_, j) => ({
      list_id: listId,
      email: `${prefix}${base + j}@list.bench.test`,
      status: 'Subscribed',
      subscription_date: now,
      source: 'API',
      created_at: now,
      updated_at: now,
    }));
    await db('subscribers').insert(rows);
  }
}

/** The longest statement `fn` ran (knex's query and query-response events). */
async function longestStatement(db: Knex, fn: () => Promise<unknown>): Promise<number> {
  const started = new Map<string, bigint>();
  let longest = 0;
  const onQuery = (q: { __knexQueryUid: string }) => started.set(q.__knexQueryUid, process.hrtime.bigint());
  const onResponse = (_r: unknown, q: { __knexQueryUid: string }) => {
    const t = started.get(q.__knexQueryUid);
    if (t !== undefined) longest = Math.max(longest, Number(process.hrtime.bigint() - t) / 1e6);
  };
  db.on('query', onQuery).on('query-response', onResponse);
  try {
    await fn();
  } finally {
    db.removeListener('query', onQuery).removeListener('query-response', onResponse);
  }
  return longest;
}

async function benchStore(store: string): Promise<Record<string, number>> {
  return withScratchStore(store, 'overview', async (db) => {
    const figures: Record<string, number> = {};
    const now = Date.now();
    await seedSender(db, 1, now);
    await seedSender(db, 2, now);
    const lists = [1, 2, 3, 4];
    for (const id of lists) await db('lists').insert({ id, user_id: 1, name: `list ${id}`, created_at: now, updated_at: now });
    await db('lists').insert({ id: 5, user_id: 2, name: 'theirs', created_at: now, updated_at: now });
    for (const size of SIZES) {
      const t0 = Date.now();
      await db('subscribers').del();
      // List k holds addresses k·q/2 .. k·q/2+q-1: a quarter of the rows each, each half shared with the next list.
      const q = size / 4;
      for (const [k, id] of lists.entries()) await members(db, id, (k * q) / 2, (k * q) / 2 + q, 'e', now);
      await members(db, 5, 0, q, 'other', now);
      await db.raw(store === 'sqlite' ? 'ANALYZE' : 'ANALYZE TABLE subscribers');
      console.log(`${store}: seeded ${size + q} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

      const expected = await oneStatement(db, 1);
      const poller = new ContactCounts({ page: PAGE, liveMs: 50 });
      const errors: unknown[] = [];
      const failed = (err: unknown) => errors.push(err);
      const forms: [string, string, () => Promise<number>][] = [
        ['before', 'one statement (before)', () => oneStatement(db, 1)],
        ['recount', 'recount (now)         ', () => countContacts(db, 1, PAGE)],
        ['poll', 'a poll (now)          ', () => poller.countOf(db, 1, failed)],
      ];
      const times: Record<string, number[]> = { before: [], recount: [], poll: [] };
      for (let i = 0; i < 2 + RUNS; i++) {
        for (const [key, name, read] of forms) {
          const t = process.hrtime.bigint();
          const n = await read();
          if (i >= 2) times[key].push(Number(process.hrtime.bigint() - t) / 1e6);
          if (n !== expected) throw new Error(`${name.trim()} counted ${n} contacts of ${expected} at ${size}`);
        }
      }
      await poller.idle();
      if (errors.length) throw errors[0];
      const longest = await longestStatement(db, () => countContacts(db, 1, PAGE));
      for (const [key, name] of forms) {
        const ms = times[key].sort((a, b) => a - b);
        const [median, p95] = [percentile(ms, 50), percentile(ms, 95)];
        const extra = key === 'recount' ? `, longest statement ${longest.toFixed(1)} ms` : '';
        console.log(
          `${store.padEnd(7)} ${String(size).padStart(8)} rows (${expected} contacts): ${name} median ${median.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms${extra}`,
        );
        figures[`${store}_${size}_${key}_median_ms`] = Number(median.toFixed(1));
      }
      figures[`${store}_${size}_recount_longest_statement_ms`] = Number(longest.toFixed(1));

      // GET /api/v1/contacts over every list: page 1 and the page at the middle of the account, 50 a page.
      for (const page of [1, Math.floor(size / 100)]) {
        const listing: [string, string, () => Promise<{ ids: string; total: number }>][] = [
          ['before', 'joined (before)  ', () => joinedPage(db, 1, page)],
          [
            'now',
            'by list id (now) ',
            async () => {
              const [rows, total] = await Promise.all([contactPage(db, lists, undefined, 50, page), contactTotal(db, lists, undefined)]);
              return { ids: rows.map((x) => Number(x.id)).join(), total };
            },
          ],
        ];
        const took: Record<string, number[]> = { before: [], now: [] };
        for (let i = 0; i < 1 + RUNS; i++) {
          const answers: string[] = [];
          for (const [key, , read] of listing) {
            const t = process.hrtime.bigint();
            const r = await read();
            if (i >= 1) took[key].push(Number(process.hrtime.bigint() - t) / 1e6);
            answers.push(`${r.total}:${r.ids}`);
          }
          if (answers[0] !== answers[1]) throw new Error(`the two listings differ at ${size}, page ${page}`);
        }
        for (const [key, name] of listing) {
          const median = percentile(
            took[key].sort((a, b) => a - b),
            50,
          );
          console.log(
            `${store.padEnd(7)} ${String(size).padStart(8)} rows: contacts page ${String(page).padStart(5)}, ${name} median ${median.toFixed(1)} ms (with the total)`,
          );
          figures[`${store}_${size}_listing_p${page}_${key}_median_ms`] = Number(median.toFixed(1));
        }
      }
    }
    return figures;
  });
}

benchEachStore(`account.overview contacts, ${RUNS} runs per size`, benchStore);
