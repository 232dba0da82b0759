/**
 * npm run bench:subscriber-pages — the first page of Octeth's subscribers.get on a large list, in each order it offers,
 * with and without the (list_id, id) and (list_id, subscription_date) indexes, and what they cost an import, on
 * MariaDB and SQLite.
 *
 * The shape: two lists of BENCH_SIZE (1000000) members each; the second is read (its members come after all of the
 * first's in id order). Each order: 2 warm-ups, then BENCH_RUNS (5) reads of a page of 25 as commands/subscribers.get.ts
 * asks for it (by the field; equal dates by id in the same direction), with the indexes, then with them dropped; both
 * must answer the same page. Import cost: 50,000 members written 400 per statement into a new list with the indexes,
 * then 50,000 into another without them. Also what counting the list's TotalSubscribers (All and Active) costs, which
 * subscribers.get reuses while costly. Throw-away MariaDB database `postern_bench_subpages_*` and SQLite file.
 * Knobs: BENCH_MYSQL_URL, BENCH_SIZE, BENCH_RUNS, BENCH_STORES (mariadb,sqlite).
 */
import type { Knex } from 'knex';
import { benchEachStore, seedSender, withScratchStore } from './scratch-store';
import { medianRead } from './timing';

const SIZE = Number(process.env.BENCH_SIZE ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CHUNK = 400;
const INDEXES: [string[], string][] = [
  [['list_id', 'id'], 'subscribers_list_order_id_idx'],
  [['list_id', 'subscription_date'], 'subscribers_list_order_date_idx'],
];

async function members(db: Knex, listId: number, n: number, now: number): Promise<void> {
  for (let base = 0; base < n; base += CHUNK) {
    const rows = Array.from({ length: Math.min(CHUNK, n - base) }, (_, j) => ({
      list_id: listId,
      email: `m${base + j}@list${listId}.bench.test`,
      status: (base + j) % 10 ? 'Subscribed' : 'Unsubscribed',
      subscription_date: now - ((base + j) % 86_400) * 1000,
      source: 'API',
      created_at: now,
      updated_at: now,
    }));
    await db('subscribers').insert(rows);
  }
}

const ORDERS: [string, string, 'asc' | 'desc'][] = [
  ['SubscriberID ASC', 'id', 'asc'],
  ['SubscriberID DESC', 'id', 'desc'],
  ['SubscriptionDate ASC', 'subscription_date', 'asc'],
  ['SubscriptionDate DESC', 'subscription_date', 'desc'],
  ['EmailAddress ASC', 'email', 'asc'],
];

/** Median ms of each order's first page, and the pages (ids) to compare. */
async function timePages(db: Knex): Promise<{ medians: number[]; pages: string[] }> {
  const medians: number[] = [];
  const pages: string[] = [];
  for (const [, column, direction] of ORDERS) {
    const tiebreak = column === 'subscription_date' ? [{ column: 's.id', order: direction }] : [];
    const r = await medianRead(RUNS, 2, async () => {
      const rows = (await db('subscribers as s')
        .where('s.list_id', 2)
        .select('s.*')
        .orderBy([{ column: `s.${column}`, order: direction }, ...tiebreak])
        .limit(25)) as { id: unknown }[];
      return rows.map((x) => Number(x.id)).join();
    });
    medians.push(r.median);
    pages.push(r.answer);
  }
  return { medians, pages };
}

async function benchStore(store: string): Promise<Record<string, number>> {
  return withScratchStore(store, 'subpages', async (db) => {
    const figures: Record<string, number> = {};
    const now = Date.now();
    await seedSender(db, 1, now);
    for (const id of [1, 2, 3, 4]) await db('lists').insert({ id, user_id: 1, name: `list ${id}`, created_at: now, updated_at: now });
    const t0 = Date.now();
    await members(db, 1, SIZE, now);
    await members(db, 2, SIZE, now);
    await db.raw(store === 'sqlite' ? 'ANALYZE' : 'ANALYZE TABLE subscribers');
    console.log(`${store}: seeded ${2 * SIZE} members in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const withIdx = await timePages(db);
    // What subscribers.get's TotalSubscribers costs when counted (All, then Active): the figure its reuse is for.
    for (const [label, status] of [
      ['all', undefined],
      ['active', 'Subscribed'],
    ] as const) {
      const c = await medianRead(RUNS, 2, async () => {
        const q = db('subscribers').where('list_id', 2);
        if (status) q.where('status', status);
        return String(((await q.count({ n: '*' })) as { n: unknown }[])[0].n);
      });
      console.log(`${store.padEnd(7)} TotalSubscribers (${label}, ${c.answer} members) counted: ${c.median.toFixed(1)} ms`);
      figures[`${store}_total_${label}_ms`] = Number(c.median.toFixed(1));
    }
    let t = Date.now();
    await members(db, 3, 50_000, now);
    const importWith = (Date.now() - t) / 50;
    for (const [columns, name] of INDEXES) await db.schema.alterTable('subscribers', (tb) => tb.dropIndex(columns, name));
    await db.raw(store === 'sqlite' ? 'ANALYZE' : 'ANALYZE TABLE subscribers');
    const without = await timePages(db);
    t = Date.now();
    await members(db, 4, 50_000, now);
    const importWithout = (Date.now() - t) / 50;
    ORDERS.forEach(([label], i) => {
      if (withIdx.pages[i] !== without.pages[i]) throw new Error(`${store}: ${label}: the pages differ`);
      console.log(
        `${store.padEnd(7)} ${label.padEnd(22)} without the indexes ${without.medians[i].toFixed(1).padStart(8)} ms, with them ${withIdx.medians[i].toFixed(1).padStart(6)} ms`,
      );
      const key = label.replace(/\s+/g, '_').toLowerCase();
      figures[`${store}_${key}_without_ms`] = Number(without.medians[i].toFixed(1));
      figures[`${store}_${key}_with_ms`] = Number(withIdx.medians[i].toFixed(1));
    });
    console.log(`${store.padEnd(7)} import, ms per 1,000 members: without the indexes ${importWithout.toFixed(1)}, with them ${importWith.toFixed(1)}`);
    figures[`${store}_import_without_ms_per_1000`] = Number(importWithout.toFixed(1));
    figures[`${store}_import_with_ms_per_1000`] = Number(importWith.toFixed(1));
    return figures;
  });
}

benchEachStore(`subscribers.get first pages, ${RUNS} runs per order`, benchStore);
