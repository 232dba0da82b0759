/**
 * npm run bench:sweep-due — times the delivery sweeper's read of due, unleased deliveries (src/delivery/due-unleased.ts)
 * against the single read it replaced, side by side, as a queued backlog grows, on MariaDB and on SQLite.
 *
 * The shape is a backlog waiting for free workers: BENCH_SIZES queued deliveries already due, plus 100 deferred ones
 * due, 100 being sent under a live lease and 100 scheduled for tomorrow. Every worker runs this read every
 * SWEEP_INTERVAL_SECONDS (30). Each size: 3 warm-ups, then BENCH_RUNS (20) reads of each form, alternating; median
 * and p95 printed, and both forms must return the same 5,000 ids. Throw-away MariaDB database
 * `postern_bench_sweep_*` and SQLite file, both removed at the end. Knobs: BENCH_MYSQL_URL, BENCH_SIZES
 * (10000,200000), BENCH_RUNS (20), BENCH_STORES (mariadb,sqlite).
 */
import type { Knex } from 'knex';
import { dueUnleased } from '../src/delivery/due-unleased';
import { PENDING } from '../src/delivery/worker-ctx';
import { benchEachStore, seedSender, withScratchStore } from './scratch-store';
import { percentile } from './timing';

const SIZES = (process.env.BENCH_SIZES ?? '10000,200000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const LIMIT = 5000;
const CHUNK = 500;

/** The sweeper's read before: all four statuses at once, ordered (kept here to compare, not used by the gateway). */
async function singleRead(db: Knex, before: number): Promise<{ id: number }[]> {
  return db('deliveries')
    .whereIn('status', PENDING)
    .where('next_attempt_at', '<=', before)
    .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', before))
    .orderBy('next_attempt_at')
    .limit(LIMIT)
    .select('id', 'attempts', 'next_attempt_at', 'lease_until');
}

let nextId = 1;
async function deliveries(db: Knex, messageId: string, n: number, status: string, at: (i: number) => number, lease = 0): Promise<void> {
  for (let base = 0; base < n; base += CHUNK) {
    const rows = Array.from({ length: Math.min(CHUNK, n - base) }, (_, j) => {
      const id = nextId++;
      return {
        id,
        message_id: messageId,
        user_id: 1,
        domain_id: 1,
        recipient: `r${id}@inbox.bench.test`,
        recipient_domain: 'inbox.bench.test',
        kind: 'to',
        status,
        attempts: status === 'deferred' ? 2 : 0,
        next_attempt_at: at(base + j),
        lease_until: lease,
        created_at: at(base + j),
        updated_at: at(base + j),
      };
    });
    await db('deliveries').insert(rows);
  }
}

async function benchStore(store: string): Promise<Record<string, number>> {
  return withScratchStore(store, 'sweep', async (db) => {
    const figures: Record<string, number> = {};
    nextId = 1;
    const now = Date.now();
    const messageId = (await seedSender(db, 1, now, 'Backlog'))!;
    const start = now - 3_600_000;
    await deliveries(db, messageId, 100, 'deferred', (i) => start + i * 7);
    await deliveries(db, messageId, 100, 'sending', (i) => start + i * 11, now + 600_000);
    await deliveries(db, messageId, 100, 'scheduled', () => now + 86_400_000);
    let seeded = 0;
    for (const size of SIZES) {
      await deliveries(db, messageId, size - seeded, 'queued', (i) => start + ((seeded + i) % 3_000_000));
      seeded = size;
      await db.raw(store === 'sqlite' ? 'ANALYZE' : 'ANALYZE TABLE deliveries');
      const before = now - 60_000;
      const same = (await singleRead(db, before)).map((r) => Number(r.id)).sort((a, b) => a - b);
      const got = (await dueUnleased(db, before, LIMIT)).map((r) => Number(r.id)).sort((a, b) => a - b);
      if (same.length !== LIMIT || same.join() !== got.join()) throw new Error(`the two reads differ at ${size}`);
      const times: Record<string, number[]> = { single: [], split: [] };
      for (let i = 0; i < 3 + RUNS; i++) {
        for (const [name, read] of [
          ['single', () => singleRead(db, before)],
          ['split', () => dueUnleased(db, before, LIMIT)],
        ] as const) {
          const t = process.hrtime.bigint();
          await read();
          if (i >= 3) times[name].push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      }
      for (const name of ['single', 'split']) {
        const ms = times[name].sort((a, b) => a - b);
        const [median, p95] = [percentile(ms, 50), percentile(ms, 95)];
        console.log(
          `${store.padEnd(7)} ${String(size).padStart(7)} queued due: ${name === 'single' ? 'one read (before)' : 'per status (now) '} median ${median.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`,
        );
        figures[`${store}_${size}_${name}_median_ms`] = Number(median.toFixed(1));
      }
    }
    return figures;
  });
}

benchEachStore(`delivery sweeper's due read, ${RUNS} runs per form and size`, benchStore);
