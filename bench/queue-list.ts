/**
 * npm run bench:queue-list — a user's queue.list (src/delivery/queue-list.ts) with and without the
 * (user_id, status, next_attempt_at) index, and what that index costs the send path's writes, on MariaDB and SQLite.
 *
 * The shape: user 1 has BENCH_HISTORY (500000) finished deliveries and 500 waiting; user 2 has a backlog of
 * BENCH_BACKLOG (100000) queued ones and 20,000 finished. Reads: each case BENCH_RUNS (10) times after 2 warm-ups,
 * with the index, then again with it dropped (both forms must answer the same page); median printed. Writes: two
 * empty copies of the deliveries table, one without the index; each round writes 5,000 deliveries into each (200
 * rows per INSERT, as accept writes them, in one transaction) and moves them queued → sending → delivered 100 ids
 * at a time, as lease and settle do, alternating which table goes first; µs per delivery printed for each.
 * Throw-away MariaDB database `postern_bench_qlist_*` and SQLite file, both removed at the end. Knobs:
 * BENCH_MYSQL_URL, BENCH_HISTORY, BENCH_BACKLOG, BENCH_RUNS, BENCH_WRITE_ROUNDS (10), BENCH_STORES (mariadb,sqlite).
 */
import type { Knex } from 'knex';
import { listQueue } from '../src/delivery/queue-list';
import type { QueueFilter } from '../src/delivery/queue-filter';
import { benchEachStore, seedSender, withScratchStore } from './scratch-store';
import { medianRead, percentile } from './timing';

const HISTORY = Number(process.env.BENCH_HISTORY ?? 500_000);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const WRITE_ROUNDS = Number(process.env.BENCH_WRITE_ROUNDS ?? 10);
const INDEX = 'deliveries_user_queue_idx';
const CHUNK = 500;

let nextId = 1;
function row(userId: number, messageId: string, status: string, at: number): Record<string, unknown> {
  const id = nextId++;
  const domain = `d${id % 50}.bench.test`;
  return {
    id,
    message_id: messageId,
    user_id: userId,
    domain_id: userId,
    recipient: `r${id}@${domain}`,
    recipient_domain: domain,
    kind: 'to',
    status,
    attempts: status === 'deferred' ? 1 : 0,
    next_attempt_at: at,
    created_at: at,
    updated_at: at,
  };
}

async function deliveries(db: Knex, userId: number, messageId: string, n: number, status: (i: number) => string, at: (i: number) => number): Promise<void> {
  for (let base = 0; base < n; base += CHUNK) {
    const rows = Array.from({ length: Math.min(CHUNK, n - base) }, (_, j) => row(userId, messageId, status(base + j), at(base + j)));
    await db('deliveries').insert(rows);
  }
}

const analyze = (db: Knex, store: string) => db.raw(store === 'sqlite' ? 'ANALYZE' : 'ANALYZE TABLE deliveries');
const dropIndex = (db: Knex) => db.schema.alterTable('deliveries', (t) => t.dropIndex(['user_id', 'status', 'next_attempt_at'], INDEX));
const addIndex = (db: Knex) => db.schema.alterTable('deliveries', (t) => t.index(['user_id', 'status', 'next_attempt_at'], INDEX));

const CASES: [string, QueueFilter, string][] = [
  ['user 1 (long history), all', { userId: 1 }, 'all'],
  ['user 1 (long history), queued', { userId: 1 }, 'queued'],
  ['user 2 (backlog), all', { userId: 2 }, 'all'],
  ['user 2 (backlog), queued', { userId: 2 }, 'queued'],
  ['admin, all', {}, 'all'],
];

/** Median ms of each case's first page of 50, and the pages themselves (to compare the two forms). */
async function timeReads(db: Knex): Promise<{ medians: number[]; pages: string[] }> {
  const medians: number[] = [];
  const pages: string[] = [];
  for (const [, filter, state] of CASES) {
    const r = await medianRead(RUNS, 2, async () => {
      const got = await listQueue(db, filter, state, 1, 50);
      return `${got.Total}:${got.Deliveries.map((d) => d.DeliveryID).join()}`;
    });
    medians.push(r.median);
    pages.push(r.answer);
  }
  return { medians, pages };
}

/** Two empty copies of `deliveries`, the second without the index. */
async function copies(db: Knex, store: string): Promise<[string, string]> {
  const names: [string, string] = ['bench_deliveries_with', 'bench_deliveries_without'];
  for (const name of names) {
    if (store === 'sqlite') {
      const defs = (await db.raw("select sql from sqlite_master where tbl_name = 'deliveries' and sql is not null")) as { sql: string }[];
      // Index names are per database in SQLite: renamed with the table.
      for (const d of defs) await db.raw(d.sql.replace(/\bdeliveries/g, name));
    } else await db.raw(`CREATE TABLE \`${name}\` LIKE \`deliveries\``);
  }
  const index = store === 'sqlite' ? INDEX.replace('deliveries', names[1]) : INDEX;
  await db.schema.alterTable(names[1], (t) => t.dropIndex(['user_id', 'status', 'next_attempt_at'], index));
  return names;
}

/** One round's writes into `table`: µs per delivery for insert, lease-like and settle-like updates. */
async function writeRound(db: Knex, table: string, messageId: string, now: number): Promise<number> {
  const rows = Array.from({ length: 5000 }, () => row(1, messageId, 'queued', now));
  const t = process.hrtime.bigint();
  await db.transaction(async (trx) => {
    for (let i = 0; i < rows.length; i += 200) await trx(table).insert(rows.slice(i, i + 200));
  });
  for (const [from, to] of [
    ['queued', 'sending'],
    ['sending', 'delivered'],
  ]) {
    for (let i = 0; i < rows.length; i += 100) {
      const ids = rows.slice(i, i + 100).map((r) => r.id as number);
      await db(table)
        .whereIn('id', ids)
        .where('status', from)
        .update({ status: to, next_attempt_at: now + 1, updated_at: now + 1 });
    }
  }
  return Number(process.hrtime.bigint() - t) / 1e3 / rows.length;
}

async function benchStore(store: string): Promise<Record<string, number>> {
  return withScratchStore(store, 'qlist', async (db) => {
    nextId = 1;
    const now = Date.now();
    const m1 = (await seedSender(db, 1, now, 'Queue'))!;
    const m2 = (await seedSender(db, 2, now, 'Queue'))!;
    const seeded = Date.now();
    const past = (i: number) => now - 86_400_000 + (i % 86_400_000);
    await deliveries(db, 1, m1, HISTORY, (i) => (i % 20 ? 'delivered' : 'bounced'), past);
    await deliveries(
      db,
      1,
      m1,
      500,
      (i) => (i % 5 ? 'queued' : 'deferred'),
      (i) => now + i,
    );
    await deliveries(
      db,
      2,
      m2,
      BACKLOG,
      () => 'queued',
      (i) => now + i,
    );
    await deliveries(db, 2, m2, 20_000, () => 'delivered', past);
    await analyze(db, store);
    console.log(`${store}: seeded ${HISTORY + BACKLOG + 20_500} deliveries in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

    const figures: Record<string, number> = {};
    const withIdx = await timeReads(db);
    await dropIndex(db);
    await analyze(db, store);
    const without = await timeReads(db);
    await addIndex(db);
    CASES.forEach(([label], i) => {
      if (withIdx.pages[i] !== without.pages[i]) throw new Error(`${store}: ${label}: the two forms answered different pages`);
      console.log(
        `${store.padEnd(7)} ${label.padEnd(32)} without the index ${without.medians[i].toFixed(1).padStart(7)} ms, with it ${withIdx.medians[i].toFixed(1).padStart(6)} ms`,
      );
      const key = label.replace(/\W+/g, '_').replace(/^_|_$/g, '').toLowerCase();
      figures[`${store}_${key}_without_ms`] = Number(without.medians[i].toFixed(1));
      figures[`${store}_${key}_with_ms`] = Number(withIdx.medians[i].toFixed(1));
    });

    const [withTable, withoutTable] = await copies(db, store);
    const us: Record<string, number[]> = { [withTable]: [], [withoutTable]: [] };
    for (let r = 0; r < 1 + WRITE_ROUNDS; r++) {
      for (const table of r % 2 ? [withoutTable, withTable] : [withTable, withoutTable]) {
        const cost = await writeRound(db, table, m1, now);
        if (r > 0) us[table].push(cost); // the first round warms up
      }
    }
    const [w, wo] = [
      percentile(
        us[withTable].sort((a, b) => a - b),
        50,
      ),
      percentile(
        us[withoutTable].sort((a, b) => a - b),
        50,
      ),
    ];
    console.log(
      `${store.padEnd(7)} writes (insert, lease, settle), median of ${WRITE_ROUNDS} rounds: without the index ${wo.toFixed(1)} µs per delivery, with it ${w.toFixed(1)} µs (${(((w - wo) / wo) * 100).toFixed(1)} %)`,
    );
    figures[`${store}_write_without_us`] = Number(wo.toFixed(1));
    figures[`${store}_write_with_us`] = Number(w.toFixed(1));
    return figures;
  });
}

benchEachStore(`queue.list with and without (user_id, status, next_attempt_at), ${RUNS} runs per case`, benchStore);
