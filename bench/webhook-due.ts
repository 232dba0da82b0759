/**
 * npm run bench:webhook-due — times the webhook worker's due-rows read (src/webhooks/due-rows.ts) as one account's
 * backlog grows, on MariaDB and on the embedded SQLite store.
 *
 * The shape is a receiver that is down: one account has BENCH_SIZES due rows waiting, 19 other accounts have 5 each,
 * 10 of the backlog's rows are leased (calls in flight), and BENCH_IDLE_WEBHOOKS (2000) more webhooks wait for
 * nothing. A worker reads the window at every poll and each time a
 * call ends while that account holds its share of the slots, so this read runs many times a second.
 * Each size: 5 warm-ups, then BENCH_RUNS (30) reads; median and p95 printed, and a check that every other account
 * is in the window. Throw-away MariaDB database `postern_bench_whdue_*` and SQLite file in a temporary directory,
 * both removed at the end. Knobs: BENCH_MYSQL_URL, BENCH_SIZES (10000,200000), BENCH_RUNS (30), BENCH_STORES
 * (mariadb,sqlite).
 */
import type { Knex } from 'knex';
import { dueRows } from '../src/webhooks/due-rows';
import { benchEachStore, seedSender, withScratchStore } from './scratch-store';
import { time } from './timing';

const SIZES = (process.env.BENCH_SIZES ?? '10000,200000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const OTHERS = 19;
const IDLE = Number(process.env.BENCH_IDLE_WEBHOOKS ?? 2000);
const CHUNK = 500;

/** Users, domains and one webhook each; returns the webhook ids, the backlog's first. */
async function accounts(db: Knex, n: number): Promise<number[]> {
  const now = Date.now();
  const hooks: number[] = [];
  for (let i = 0; i < n; i++) {
    const userId = i + 1; // a fresh store: the ids seedSender gives are the ones auto-increment would
    await seedSender(db, userId, now);
    const domainId = userId;
    const [hookId] = await db('webhooks').insert({
      user_id: userId,
      domain_id: domainId,
      event: 'delivered',
      url: 'http://127.0.0.1:9/',
      created_at: now,
      updated_at: now,
    });
    hooks.push(Number(hookId));
  }
  return hooks;
}

/** `n` webhooks with nothing queued, on the first account's domain: most of a large installation's webhooks. */
async function idleWebhooks(db: Knex, n: number): Promise<void> {
  const now = Date.now();
  const rows = Array.from({ length: n }, () => ({ user_id: 1, domain_id: 1, event: 'opened', url: 'http://127.0.0.1:9/', created_at: now, updated_at: now }));
  for (let i = 0; i < rows.length; i += CHUNK) await db('webhooks').insert(rows.slice(i, i + CHUNK));
}

/** `n` due rows of a webhook, due from `at` on, a millisecond apart; the first `leased` of them leased. */
async function outbox(db: Knex, webhookId: number, n: number, at: number, leased = 0): Promise<void> {
  for (let base = 0; base < n; base += CHUNK) {
    const rows = Array.from({ length: Math.min(CHUNK, n - base) }, (_, j) => {
      const i = base + j;
      return {
        webhook_id: webhookId,
        event_id: `evt_${webhookId}_${at}_${i}`,
        event_type: 'delivered',
        payload: '{"type":"email.delivered","data":{"email_id":"00000000-0000-7000-8000-000000000000"}}',
        status: 'pending',
        attempts: 3,
        next_attempt_at: at + i,
        lease_until: i < leased ? Date.now() + 3_600_000 : null,
        created_at: at,
        updated_at: at,
      };
    });
    await db('webhook_deliveries').insert(rows);
  }
}

async function benchStore(store: string): Promise<Record<string, number>> {
  return withScratchStore(store, 'whdue', async (db) => {
    const figures: Record<string, number> = {};
    const [backlog, ...others] = await accounts(db, OTHERS + 1);
    await idleWebhooks(db, IDLE);
    const start = Date.now() - 86_400_000;
    for (const hook of others) await outbox(db, hook, 5, start + 3_600_000);
    let seeded = 0;
    for (const size of SIZES) {
      await outbox(db, backlog, size - seeded, start + seeded, seeded === 0 ? 10 : 0);
      seeded = size;
      if (store === 'sqlite') await db.raw('ANALYZE');
      else await db.raw('ANALYZE TABLE webhook_deliveries');
      const read = async () => {
        const rows = await dueRows(db, 10, 100);
        const seen = new Set(rows.map((r) => Number(r.webhook_id)));
        return { ok: others.every((h) => seen.has(h)) && rows.length === 100, body: { rows: rows.length, accounts: seen.size } };
      };
      const t = await time(`${store} ${size}`, RUNS, read);
      console.log(
        `${store.padEnd(7)} backlog ${String(size).padStart(7)} due rows: due-rows read median ${t.median.toFixed(2)} ms, p95 ${t.p95.toFixed(2)} ms`,
      );
      figures[`${store}_${size}_median_ms`] = Number(t.median.toFixed(2));
      figures[`${store}_${size}_p95_ms`] = Number(t.p95.toFixed(2));
    }
    return figures;
  });
}

benchEachStore(`webhook due-rows read, ${RUNS} runs per size`, benchStore);
