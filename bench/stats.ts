/**
 * npm run bench:stats — times the stats commands (and a getevents page) at 10,000 and at 1,000,000 deliveries.
 *
 * Creates a throw-away MariaDB database `postern_bench_stats_*`, runs the gateway's app in this process on a
 * loopback port, and seeds deliveries with their events directly with multi-row INSERTs: one message and one
 * delivery per recipient, a queued event, an outcome (delivered / bounced / failed / still pending) with its
 * seconds, opens and clicks flagged unique as tracking flags them. The rollups are written by the real
 * `applyRollups` on each seeded batch of events, so they hold exactly what recordEvents would have written;
 * the script checks both their hour and their day rows against a GROUP BY over the events table. Each query then runs BENCH_RUNS times
 * (after 5 warm-ups) through POST /api.php (GET /api/v1/stats for the sender route); median and p95 printed.
 * Knobs: BENCH_MYSQL_URL, BENCH_SIZES (10000,1000000), BENCH_RUNS (50), BENCH_DAYS (60), BENCH_KEEP_DB (unset).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { EventInput } from '../src/events/record';
import { applyRollups } from '../src/stats/rollups';
import { startInProcessGateway } from './in-process';
import { time as timed } from './timing';

const SIZES = (process.env.BENCH_SIZES ?? '10000,1000000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const DAYS = Number(process.env.BENCH_DAYS ?? 60);
const CHUNK = 2000;

/** 50 recipient domains, a few big ones first (picked with a skewed distribution). */
const RECIPIENT_DOMAINS = [
  'gmail.com',
  'yahoo.com',
  'outlook.com',
  'hotmail.com',
  'icloud.com',
  ...Array.from({ length: 45 }, (_, i) => `corp${i + 1}.example`),
];
const TAGS = [[], [], ['welcome'], ['receipt'], ['promo', 'newsletter'], ['password-reset']];

/** Deterministic per-index randomness, so the 1M set extends the 10k set with the same distribution. */
function rand(i: number, salt: number): number {
  let x = (i * 2654435761 + salt * 40503) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x / 4294967296;
}

function deliverySeconds(r: number): number {
  // Mostly fast, a long tail: 55% < 1 s, then 1-5 s, ..., a few over ten minutes.
  const edges: [number, number, number][] = [
    [0.55, 0, 1],
    [0.8, 1, 5],
    [0.9, 5, 10],
    [0.95, 10, 30],
    [0.975, 30, 60],
    [0.99, 60, 300],
    [0.997, 300, 600],
    [1, 600, 3600],
  ];
  for (const [p, lo, hi] of edges) if (r < p) return lo + Math.floor(((r * 7919) % 1) * (hi - lo));
  return 0;
}

interface Ctx {
  db: Knex;
  userId: number;
  domains: number[];
  start: number;
  span: number;
}

function uuidFor(i: number): string {
  const hex = i.toString(16).padStart(12, '0');
  const rnd = crypto.randomBytes(10).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${rnd.slice(0, 3)}-a${rnd.slice(3, 6)}-${rnd.slice(6, 18)}`;
}

/** Writes deliveries [from, to) with their messages, events and rollups. */
async function seed(c: Ctx, from: number, to: number): Promise<number> {
  let events = 0;
  for (let base = from; base < to; base += CHUNK) {
    const end = Math.min(base + CHUNK, to);
    const messages: Record<string, unknown>[] = [];
    const deliveries: Record<string, unknown>[] = [];
    const evs: EventInput[] = [];
    for (let i = base; i < end; i++) {
      const id = i + 1;
      const messageId = uuidFor(id);
      const domainId = c.domains[rand(i, 1) < 0.9 ? 0 : 1];
      const at = c.start + Math.floor(rand(i, 2) * c.span);
      const rd = RECIPIENT_DOMAINS[Math.floor(rand(i, 3) ** 2.5 * RECIPIENT_DOMAINS.length)];
      const recipient = `user${id}@${rd}`;
      const tags = TAGS[Math.floor(rand(i, 4) * TAGS.length)];
      const r = rand(i, 5);
      const outcome = r < 0.93 ? 'delivered' : r < 0.97 ? 'bounced' : r < 0.98 ? 'failed' : null;
      const seconds = outcome === 'failed' ? 3600 + Math.floor(rand(i, 6) * 80000) : deliverySeconds(rand(i, 6));
      messages.push({
        id: messageId,
        user_id: c.userId,
        domain_id: domainId,
        source: 'api',
        from_email: 'shop@bench.example',
        subject: `Order ${id} shipped`,
        tags: JSON.stringify(tags),
        message_id_header: `<${messageId}@bench.example>`,
        mime: Buffer.from('Subject: x\r\n\r\ny\r\n'),
        mime_size: 17,
        created_at: at,
      });
      deliveries.push({
        id,
        message_id: messageId,
        user_id: c.userId,
        domain_id: domainId,
        recipient,
        recipient_domain: rd,
        kind: 'to',
        status: outcome ?? 'queued',
        attempts: outcome ? 1 : 0,
        next_attempt_at: at,
        created_at: at,
        updated_at: at,
        finished_at: outcome ? at + seconds * 1000 : 0,
        last_reply: outcome === 'delivered' ? '250 2.0.0 Ok' : outcome ? '550 5.1.1 No such user' : null,
        bounce_class: outcome === 'bounced' ? 'hard' : null,
      });
      const ev = { message_id: messageId, delivery_id: id, domain_id: domainId, user_id: c.userId };
      evs.push({ ...ev, type: 'queued', created_at: at, data: { recipient } });
      if (outcome) {
        const data: Record<string, unknown> = {
          recipient,
          attempts: 1,
          seconds,
          smtp_reply: outcome === 'delivered' ? '250 2.0.0 Ok' : '550 5.1.1 No such user',
        };
        if (outcome !== 'delivered') data.bounce_class = 'hard';
        evs.push({ ...ev, type: outcome, created_at: at + seconds * 1000, data });
      }
      if (outcome === 'delivered' && rand(i, 7) < 0.4) {
        const openAt = at + seconds * 1000 + Math.floor(rand(i, 8) * 6 * 3600_000);
        evs.push({ ...ev, type: 'opened', created_at: openAt, data: { recipient, unique: true, machine: false, ip: '192.0.2.1', user_agent: 'Mozilla/5.0' } });
        if (rand(i, 9) < 0.3)
          evs.push({
            ...ev,
            type: 'opened',
            created_at: openAt + 60_000,
            data: { recipient, unique: false, machine: false, ip: '192.0.2.1', user_agent: 'Mozilla/5.0' },
          });
        if (rand(i, 10) < 0.25)
          evs.push({
            ...ev,
            type: 'clicked',
            created_at: openAt + 30_000,
            data: { recipient, unique: true, machine: false, url: 'https://shop.example/track', ip: '192.0.2.1', user_agent: 'Mozilla/5.0' },
          });
      }
    }
    await c.db.transaction(async (trx) => {
      for (let i = 0; i < messages.length; i += 1000) await trx('messages').insert(messages.slice(i, i + 1000));
      for (let i = 0; i < deliveries.length; i += 1000) await trx('deliveries').insert(deliveries.slice(i, i + 1000));
      const rows = evs.map((e) => ({ ...e, data: JSON.stringify(e.data) }));
      for (let i = 0; i < rows.length; i += 1000) await trx('events').insert(rows.slice(i, i + 1000));
      await applyRollups(trx, evs);
    });
    events += evs.length;
    if (((end - from) / CHUNK) % 50 === 0) process.stdout.write(`  seeded ${end.toLocaleString('en-US')} deliveries\n`);
  }
  return events;
}

/** The rollups must equal a count over the events table (recordEvents writes both; so did the seeding). */
async function checkRollups(db: Knex): Promise<void> {
  const fromEvents = await db('events').groupBy('type').select('type').count({ n: '*' });
  const fromRollups = await db('stats_rollup').where('unit', 'h').groupBy('type').select('type').sum({ n: 'count' });
  const fromDays = await db('stats_rollup').where('unit', 'd').groupBy('type').select('type').sum({ n: 'count' });
  const a = Object.fromEntries(fromEvents.map((r: any) => [r.type, Number(r.n)]));
  const b = Object.fromEntries(fromRollups.map((r: any) => [r.type, Number(r.n)]));
  const d = Object.fromEntries(fromDays.map((r: any) => [r.type, Number(r.n)]));
  const key = (o: Record<string, number>) => JSON.stringify(Object.entries(o).sort());
  const same = key(a) === key(b) && key(a) === key(d);
  console.log(`  rollups (hour rows, day rows) vs events table: ${same ? 'equal' : 'DIFFERENT'} ${JSON.stringify(a)}`);
  if (!same) throw new Error(`rollups differ from events: ${JSON.stringify(b)}`);
}

const time = (name: string, fn: () => Promise<{ ok: boolean; body: unknown }>) => timed(name, RUNS, fn);

async function main(): Promise<void> {
  const gw = await startInProcessGateway('postern_bench_stats');
  const { services, base, api } = gw;
  try {
    const { session, userId, domainIds: domains, key: senderKey } = await gw.sender(['shop.bench.example', 'news.bench.example']);
    const probe = await api({ Command: 'emailgateway.getevents', SessionID: session, StartFrom: 0, RetrieveCount: 1 });
    const hasGetEvents = probe.body.ErrorCode !== 100003;

    const c: Ctx = { db: services.db, userId, domains, start: Date.now() - DAYS * 86_400_000, span: DAYS * 86_400_000 - 3_600_000 };
    const results: { size: number; rows: { name: string; median: number; p95: number }[] }[] = [];
    let seeded = 0;
    for (const size of SIZES) {
      const t0 = Date.now();
      const events = await seed(c, seeded, size);
      console.log(
        `seeded ${(size - seeded).toLocaleString('en-US')} deliveries (${events.toLocaleString('en-US')} events) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
      seeded = size;
      await checkRollups(services.db);
      const rollupRows = await Promise.all(
        ['stats_rollup', 'stats_tag_rollup', 'stats_recipient_domain_rollup'].map(
          async (t) => `${t} ${Number((await services.db(t).count({ n: '*' }))[0].n).toLocaleString('en-US')}`,
        ),
      );
      console.log(`  rollup rows: ${rollupRows.join(', ')}`);
      const rows = [
        await time('baseline: getdomains (auth + one small query)', () => api({ Command: 'emailgateway.getdomains', SessionID: session })),
        await time('domainstats (28 days + previous 28, tags)', () => api({ Command: 'emailgateway.domainstats', SessionID: session, DomainID: domains[0] })),
        await time('recipientdomainstats (gmail.com, 28 days)', () =>
          api({ Command: 'emailgateway.recipientdomainstats', SessionID: session, DomainID: domains[0], RecipientToDomain: 'gmail.com' }),
        ),
        await time('accountstats (2 domains, 30 days + previous 30)', () => api({ Command: 'emailgateway.accountstats', SessionID: session })),
        await time('listrecipientdomains (50 domains, 30 days)', () =>
          api({ Command: 'emailgateway.listrecipientdomains', SessionID: session, DomainID: domains[0] }),
        ),
        await time('GET /api/v1/stats', async () => {
          const res = await fetch(`${base}/api/v1/stats`, { headers: { authorization: `Bearer ${senderKey}` } });
          return { ok: res.status === 200, body: await res.json() };
        }),
      ];
      if (hasGetEvents)
        rows.push(
          await time('getevents (first page of 100, one domain)', () =>
            api({ Command: 'emailgateway.getevents', SessionID: session, DomainID: domains[0], StartFrom: 0, RetrieveCount: 100 }),
          ),
        );
      else console.log('  emailgateway.getevents is not available: not timed');
      results.push({ size, rows });
      for (const r of rows)
        console.log(
          `  ${size.toLocaleString('en-US').padStart(9)}  ${r.name.padEnd(48)} median ${r.median.toFixed(1).padStart(7)} ms   p95 ${r.p95.toFixed(1).padStart(7)} ms`,
        );
    }

    console.log('\n| Query | ' + results.map((r) => `${r.size.toLocaleString('en-US')}: median / p95`).join(' | ') + ' | ratio (medians) |');
    console.log('|---|' + results.map(() => '---|').join('') + '---|');
    for (let i = 0; i < results[0].rows.length; i++) {
      const cells = results.map((r) => (r.rows[i] ? `${r.rows[i].median.toFixed(1)} / ${r.rows[i].p95.toFixed(1)} ms` : '—'));
      const first = results[0].rows[i];
      const last = results[results.length - 1].rows[i];
      console.log(`| ${first.name} | ${cells.join(' | ')} | ${last ? (last.median / first.median).toFixed(2) + '×' : '—'} |`);
    }
  } finally {
    await gw.close();
  }
}

main().catch((err) => {
  console.error(String((err as Error)?.stack ?? err).slice(0, 2000));
  process.exit(1);
});
