/**
 * npm run bench:queue-walk — the page reads of a queue walk (src/delivery/queue-pages.ts: queue.hold, release, retry,
 * purge, emailgateway.cleardomainqueue, a suspension's hold and lift) for each filter those commands give it, on
 * MariaDB and SQLite: pages read, the slowest page, the whole walk, and the index the planner took for a page after
 * the first (EXPLAIN / EXPLAIN QUERY PLAN). First as before migration 20270103000100 (no domain index, (status,
 * recipient_domain) without next_attempt_at, no index named, SenderDomain as a subquery), then as now.
 *
 * The shape: user 1 has BENCH_QUEUE (300000) waiting deliveries (queued and deferred) on their domain 1, BENCH_SMALL
 * (2000) on their small domain 3 (recipient domain small.test) and 500 held by an operator, 20,000 held by a
 * suspension and 100,000 finished; user 2 has 100,000 waiting. Each walk reads only (a no-op for each page, so every
 * case meets the same rows each time), pages of BENCH_PAGE (5000, DELETE_CHUNK_ROWS's default), BENCH_RUNS (3) times
 * after one warm-up; median printed. Throw-away MariaDB database `postern_bench_qwalk_*` and SQLite file, both removed
 * at the end. Knobs: BENCH_MYSQL_URL, BENCH_QUEUE, BENCH_SMALL, BENCH_PAGE, BENCH_RUNS, BENCH_STORES (mariadb,sqlite).
 */
import type { Knex } from 'knex';
import { resolveSenderDomain } from '../src/delivery/queue-control';
import { applyFilter, type QueueFilter } from '../src/delivery/queue-filter';
import { queueIndexOf, walkQueue } from '../src/delivery/queue-pages';
import { benchEachStore, seedSender, withScratchStore } from './scratch-store';

const QUEUE = Number(process.env.BENCH_QUEUE ?? 300_000);
const SMALL = Number(process.env.BENCH_SMALL ?? 2000);
const PAGE = Number(process.env.BENCH_PAGE ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CHUNK = 500;
const WAITING = ['queued', 'scheduled', 'deferred'];

let nextId = 1;
type Shape = { user: number; domain: number; rcpt: string; status: string; at: number; heldBy?: string };
async function seed(db: Knex, messageId: string, n: number, shape: (i: number) => Shape): Promise<void> {
  for (let base = 0; base < n; base += CHUNK) {
    const rows = Array.from({ length: Math.min(CHUNK, n - base) }, (_, j) => {
      const s = shape(base + j);
      const id = nextId++;
      return {
        id,
        message_id: messageId,
        user_id: s.user,
        domain_id: s.domain,
        recipient: `r${id}@${s.rcpt}`,
        recipient_domain: s.rcpt,
        kind: 'to',
        status: s.status,
        attempts: s.status === 'deferred' ? 1 : 0,
        next_attempt_at: s.at,
        created_at: s.at - 3_600_000,
        updated_at: s.at,
        ...(s.status === 'held' ? { held_from: 'queued', held_at: s.at, held_by: s.heldBy ?? null } : {}),
      };
    });
    await db('deliveries').insert(rows);
  }
}

/** A walk as the commands build it: the filter (queue-control.ts), and the held_by condition release and a lift add. */
type Case = { name: string; statuses: string[]; f: QueueFilter; heldBy?: 'operator' | 'suspension' };
const byFilter = (name: string, statuses: string[], f: QueueFilter, heldBy?: 'operator' | 'suspension'): Case => ({ name, statuses, f, heldBy });
const CASES: Case[] = [
  byFilter('user 1, all (queue.hold All=true)', WAITING, { userId: 1 }),
  byFilter('user 1, DomainID 1 (big; cleardomainqueue)', WAITING, { userId: 1, domainId: 1 }),
  byFilter('user 1, DomainID 3 (small; cleardomainqueue)', WAITING, { userId: 1, domainId: 3 }),
  byFilter('user 1, SenderDomain bench3.test', WAITING, { userId: 1, senderDomain: 'bench3.test' }),
  byFilter('user 1, RecipientDomain small.test', WAITING, { userId: 1, recipientDomain: 'small.test' }),
  byFilter('user 1, operator-held (queue.release All=true)', ['held'], { userId: 1 }, 'operator'),
  byFilter('user 1, DomainID 1 suspension-held (a lift)', ['held'], { userId: 1, domainId: 1 }, 'suspension'),
  byFilter('admin, DomainID 3', WAITING, { domainId: 3 }),
  byFilter('admin, RecipientDomain small.test', WAITING, { recipientDomain: 'small.test' }),
];

/** The plan of a page read: MariaDB's key and rows estimate, or SQLite's plan text. */
async function plan(db: Knex, store: string, sql: string, bindings: readonly unknown[]): Promise<string> {
  if (store === 'sqlite') {
    const rows = (await db.raw(`EXPLAIN QUERY PLAN ${sql}`, bindings as Knex.RawBinding[])) as { detail: string }[];
    return rows.map((r) => r.detail).join('; ');
  }
  const [rows] = (await db.raw(`EXPLAIN ${sql}`, bindings as Knex.RawBinding[])) as [{ key: string | null; rows: number; Extra: string }[]];
  return rows.map((r) => `key=${r.key} rows=${r.rows} ${r.Extra ?? ''}`.trim()).join('; ');
}

/** One read-only walk: its pages, slowest page ms, total ms, and the SQL of its second page read (the cursor's form). */
async function walk(db: Knex, c: Case, now: number, before: boolean) {
  const times: number[] = [];
  let second: { sql: string; bindings: readonly unknown[] } | null = null;
  let rows = 0;
  const started = new Map<string, bigint>();
  const onQuery = (q: { __knexQueryUid: string; sql: string; bindings: readonly unknown[] }) => {
    if (!/from [`"]deliveries[`"]/i.test(q.sql) || !/order by/i.test(q.sql)) return;
    started.set(q.__knexQueryUid, process.hrtime.bigint());
    if (times.length === 1 && !second) second = { sql: q.sql, bindings: q.bindings };
  };
  const onResponse = (_r: unknown, q: { __knexQueryUid: string }) => {
    const t = started.get(q.__knexQueryUid);
    if (t !== undefined) times.push(Number(process.hrtime.bigint() - t) / 1e6);
  };
  db.on('query', onQuery).on('query-response', onResponse);
  const t0 = process.hrtime.bigint();
  try {
    const f = before ? c.f : (await resolveSenderDomain(db, c.f))!;
    await walkQueue<{ id: number; next_attempt_at: number }>(
      db,
      PAGE,
      before ? [] : queueIndexOf(f),
      c.statuses,
      (q) => {
        if (c.heldBy === 'operator') q.whereNull('deliveries.held_by');
        if (c.heldBy === 'suspension') q.where('deliveries.held_by', 'suspension');
        return applyFilter(db, q, f, now).select('deliveries.id', 'deliveries.next_attempt_at');
      },
      async (page) => {
        rows += page.length;
      },
    );
  } finally {
    db.removeListener('query', onQuery).removeListener('query-response', onResponse);
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  return { rows, pages: times.length, max: Math.max(...times), total, second: second as { sql: string; bindings: readonly unknown[] } | null };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function benchStore(store: string): Promise<Record<string, number>> {
  return withScratchStore(store, 'qwalk', async (db) => {
    nextId = 1;
    const now = Date.now();
    const m1 = (await seedSender(db, 1, now, 'Walk'))!;
    const m2 = (await seedSender(db, 2, now, 'Walk'))!;
    await seedSender(db, 3, now);
    await db('sender_domains').where({ id: 3 }).update({ user_id: 1 });
    const seeded = Date.now();
    const waiting = (i: number) => (i % 4 ? 'queued' : 'deferred');
    // Interleaved by time: the small domain's rows are spread through the big one's queue, as they would be.
    await seed(db, m1, QUEUE + SMALL, (i) => {
      const small = i % Math.round((QUEUE + SMALL) / SMALL) === 0;
      return { user: 1, domain: small ? 3 : 1, rcpt: small ? 'small.test' : `r${i % 50}.test`, status: waiting(i), at: now + i * 10 };
    });
    await seed(db, m1, 500, (i) => ({ user: 1, domain: 1, rcpt: 'r1.test', status: 'held', at: now + i * 7 }));
    await seed(db, m1, 20_000, (i) => ({ user: 1, domain: 1, rcpt: `r${i % 50}.test`, status: 'held', heldBy: 'suspension', at: now + i * 7 }));
    await seed(db, m1, 100_000, (i) => ({ user: 1, domain: i % 100 ? 1 : 3, rcpt: `r${i % 50}.test`, status: 'delivered', at: now - 86_400_000 + i }));
    await seed(db, m2, 100_000, (i) => ({ user: 2, domain: 2, rcpt: i % 100 ? `r${i % 50}.test` : 'small.test', status: waiting(i), at: now + i * 13 }));
    console.log(`${store}: seeded ${nextId - 1} deliveries in ${((Date.now() - seeded) / 1000).toFixed(1)} s`);

    const figures: Record<string, number> = {};
    for (const phase of ['before', 'after']) {
      const before = phase === 'before';
      await (before ? undo(db) : redo(db));
      await db.raw(store === 'sqlite' ? 'ANALYZE' : 'ANALYZE TABLE deliveries');
      for (const [i, c] of CASES.entries()) {
        await walk(db, c, now, before);
        const runs = [];
        for (let r = 0; r < RUNS; r++) runs.push(await walk(db, c, now, before));
        const last = runs[runs.length - 1];
        const shown = last.second ? await plan(db, store, last.second.sql, last.second.bindings) : '(one page)';
        const maxMs = median(runs.map((r) => r.max));
        const totalMs = median(runs.map((r) => r.total));
        console.log(
          `${store} ${phase} | ${c.name} | ${last.rows} rows, ${last.pages} reads | slowest read ${maxMs.toFixed(1)} ms | walk ${totalMs.toFixed(1)} ms | ${shown}`,
        );
        figures[`${store}_${phase}_${i}_max_ms`] = Number(maxMs.toFixed(1));
        figures[`${store}_${phase}_${i}_walk_ms`] = Number(totalMs.toFixed(1));
      }
    }
    return figures;
  });
}

/** The indexes as before the migration, and back. */
const undo = (db: Knex) =>
  db.schema.alterTable('deliveries', (t) => {
    t.index(['status', 'recipient_domain'], 'deliveries_status_rcpt_domain_idx');
    t.dropIndex(['domain_id', 'status', 'next_attempt_at'], 'deliveries_domain_queue_idx');
    t.dropIndex(['status', 'recipient_domain', 'next_attempt_at'], 'deliveries_rcpt_queue_idx');
  });
const redo = (db: Knex) =>
  db.schema.alterTable('deliveries', (t) => {
    t.index(['domain_id', 'status', 'next_attempt_at'], 'deliveries_domain_queue_idx');
    t.index(['status', 'recipient_domain', 'next_attempt_at'], 'deliveries_rcpt_queue_idx');
    t.dropIndex(['status', 'recipient_domain'], 'deliveries_status_rcpt_domain_idx');
  });

benchEachStore('queue walks: page reads by filter', benchStore);
