/**
 * npm run bench:log — times a page of the console's message log (emailgateway.getmessagelog) with 1,000,000
 * messages in MariaDB, beside the sender-key getmessages (offset paging with a total count) on the same data.
 *
 * Creates a throw-away database `postern_bench_log_*`, runs the gateway's app in this process on a loopback
 * port, creates a user and two domains through the API, then seeds messages with one delivery each directly
 * with multi-row INSERTs (30 days, 90 % on the first domain; 95 % delivered, 3 % bounced, 2 % deferred; 10 %
 * tagged `welcome`, 0.5 % `rare`). Each query runs BENCH_RUNS times (after 5 warm-ups) through POST /api.php;
 * median and p95 printed, then one `BENCH {json}` line. The database is dropped afterwards.
 * Knobs: BENCH_MYSQL_URL, BENCH_MESSAGES (1000000), BENCH_RUNS (30), BENCH_KEEP_DB (unset), BENCH_DB (time a kept
 * database again without seeding).
 */
import crypto from 'node:crypto';
import os from 'node:os';
import type { Knex } from 'knex';
import { startInProcessGateway } from './in-process';
import { time, Timed } from './timing';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const DAY = 86_400_000;
const CHUNK = 5000;

function rand(i: number, salt: number): number {
  let x = (i * 2654435761 + salt * 40503) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
}

async function seed(db: Knex, userId: number, domains: number[], start: number): Promise<void> {
  const mime = Buffer.from('Subject: x\r\n\r\ny\r\n');
  for (let base = 0; base < MESSAGES; base += CHUNK) {
    const messages: Record<string, unknown>[] = [];
    const deliveries: Record<string, unknown>[] = [];
    for (let i = base; i < Math.min(base + CHUNK, MESSAGES); i++) {
      const id = crypto.randomUUID();
      const domainId = domains[rand(i, 1) < 0.9 ? 0 : 1];
      const at = start + Math.floor(rand(i, 2) * 30 * DAY);
      const t = rand(i, 3);
      const tags = t < 0.005 ? ['rare'] : t < 0.105 ? ['welcome'] : [];
      const s = rand(i, 4);
      const status = s < 0.95 ? 'delivered' : s < 0.98 ? 'bounced' : 'deferred';
      const recipient = `user${i}@example${i % 100}.test`;
      messages.push({
        id,
        user_id: userId,
        domain_id: domainId,
        source: 'api',
        from_email: 'shop@shop.bench.example',
        subject: `Order ${i} shipped`,
        tags: JSON.stringify(tags),
        message_id_header: `<${id}@bench>`,
        mime,
        mime_size: mime.length,
        created_at: at,
      });
      deliveries.push({
        message_id: id,
        user_id: userId,
        domain_id: domainId,
        recipient,
        recipient_domain: `example${i % 100}.test`,
        kind: 'to',
        status,
        attempts: 1,
        next_attempt_at: at,
        created_at: at,
        updated_at: at,
        finished_at: status === 'deferred' ? 0 : at + 1000,
        last_reply: '250 2.0.0 Ok',
      });
    }
    await db.transaction(async (trx) => {
      for (let i = 0; i < messages.length; i += 1000) await trx('messages').insert(messages.slice(i, i + 1000));
      for (let i = 0; i < deliveries.length; i += 1000) await trx('deliveries').insert(deliveries.slice(i, i + 1000));
    });
    if ((base / CHUNK) % 40 === 39) process.stdout.write(`  seeded ${(base + CHUNK).toLocaleString('en-US')} messages\n`);
  }
}

async function main(): Promise<void> {
  // BENCH_DB names a database a run kept (BENCH_KEEP_DB=1): its messages are timed again without seeding.
  const kept = process.env.BENCH_DB;
  const gw = await startInProcessGateway('postern_bench_log', kept);
  const { services, base, api } = gw;
  try {
    const { session, userId, domainIds: domains, key: senderKey } = await gw.sender(['shop.bench.example', 'news.bench.example'], !!kept);

    const first = await services.db('messages').min({ t: 'created_at' }).first();
    const start = kept ? Number(first!.t) : Date.now() - 30 * DAY;
    if (!kept) {
      const t0 = Date.now();
      await seed(services.db, userId, domains, start);
      console.log(`seeded ${MESSAGES.toLocaleString('en-US')} messages and deliveries in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await services.db.raw('ANALYZE TABLE messages, deliveries');
    }
    const total = Number((await services.db('messages').count({ n: '*' }))[0].n);

    // A cursor in the middle of the log: the page a user reaches after paging back two weeks.
    const [mid] = await services
      .db('messages')
      .where({ user_id: userId })
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(Math.floor(total / 2))
      .limit(1)
      .select('created_at', 'id');
    const midCursor = `${Number(mid.created_at)}_${mid.id}`;
    const someone = `user${Math.floor(total / 3)}@example${Math.floor(total / 3) % 100}.test`;
    const day = new Date(start + 15 * DAY).toISOString().slice(0, 10);
    const log = (p: Record<string, unknown>) => () => api({ Command: 'emailgateway.getmessagelog', SessionID: session, RetrieveCount: 50, ...p });
    const rows: Timed[] = [
      await time('baseline: getdomains (auth + one small query)', RUNS, () => api({ Command: 'emailgateway.getdomains', SessionID: session })),
      await time('getmessagelog: first page, all domains', RUNS, log({})),
      await time('getmessagelog: first page, one domain', RUNS, log({ DomainID: domains[0] })),
      await time('getmessagelog: page at the middle (Before cursor)', RUNS, log({ Before: midCursor })),
      await time('getmessagelog: Recipient (one address)', RUNS, log({ Recipient: someone })),
      await time('getmessagelog: Status bounced (3 %)', RUNS, log({ Status: 'bounced' })),
      await time('getmessagelog: Status deferred (2 %), one domain', RUNS, log({ Status: 'deferred', DomainID: domains[1] })),
      await time('getmessagelog: Tag welcome (10 %)', RUNS, log({ Tag: 'welcome' })),
      await time('getmessagelog: Tag rare (0.5 %)', RUNS, log({ Tag: 'rare' })),
      await time('getmessagelog: Tag rare (0.5 %), page at the middle', RUNS, log({ Tag: 'rare', Before: midCursor })),
      await time('getmessagelog: Status bounced, page at the middle', RUNS, log({ Status: 'bounced', Before: midCursor })),
      await time('getmessagelog: one day (StartDate = EndDate)', RUNS, log({ StartDate: day, EndDate: day })),
      await time(
        'for comparison: GET /api/v1/emails page 1 (COUNT + OFFSET)',
        Math.min(RUNS, 10),
        async () => {
          const res = await fetch(`${base}/api/v1/emails?Limit=50&Page=1`, { headers: { authorization: `Bearer ${senderKey}` } });
          return { ok: res.status === 200, body: await res.json() };
        },
        1,
      ),
      await time(
        'for comparison: GET /api/v1/emails page 5000 (OFFSET 250,000)',
        Math.min(RUNS, 5),
        async () => {
          const res = await fetch(`${base}/api/v1/emails?Limit=50&Page=5000`, { headers: { authorization: `Bearer ${senderKey}` } });
          return { ok: res.status === 200, body: await res.json() };
        },
        1,
      ),
    ];
    const load = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
    console.log(`\n${total.toLocaleString('en-US')} messages, ${RUNS} runs each, load average ${load}\n`);
    console.log('| Query | median | p95 | × baseline |');
    console.log('|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.name} | ${r.median.toFixed(1)} ms | ${r.p95.toFixed(1)} ms | ${(r.median / rows[0].median).toFixed(1)}× |`);
    console.log(
      `BENCH ${JSON.stringify({ bench: 'message-log', messages: total, runs: RUNS, loadavg: os.loadavg(), results: rows.map((r) => ({ name: r.name, medianMs: Number(r.median.toFixed(2)), p95Ms: Number(r.p95.toFixed(2)) })) })}`,
    );
  } finally {
    await gw.close();
  }
}

main().catch((err) => {
  console.error(String((err as Error)?.stack ?? err).slice(0, 2000));
  process.exit(1);
});
