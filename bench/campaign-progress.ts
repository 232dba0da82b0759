/**
 * npm run bench:campaign-progress — times the campaign progress read (src/campaigns/progress.ts), which the console
 * polls every few seconds while a campaign sends and every campaigns page shows, as a campaign grows, on MariaDB and
 * on SQLite: the one statement it replaced, a recount (paged past 20,000 messages), and a poll (CampaignProgress as
 * the gateway has it).
 *
 * The shape: one campaign of BENCH_SIZES recipients (one message and one delivery each; a fifth still queued, the rest
 * delivered, bounced or failed, a third of the delivered opened), plus another account's campaign of the same size
 * beside it. Each size: 3 warm-ups, then BENCH_RUNS (10) reads of each form, alternating; median and p95 printed, and
 * the forms must agree. Throw-away MariaDB database `postern_bench_campaign_*` and SQLite file, both removed at the
 * end. Knobs: BENCH_MYSQL_URL, BENCH_SIZES (10000,100000), BENCH_RUNS (10), BENCH_STORES (mariadb,sqlite).
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { CampaignProgress, countCampaign } from '../src/campaigns/progress';
import { benchEachStore, seedSender, withScratchStore } from './scratch-store';
import { percentile } from './timing';

const SIZES = (process.env.BENCH_SIZES ?? '10000,100000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const CHUNK = 400;
const STATUSES = ['queued', 'delivered', 'delivered', 'bounced', 'failed'];
const FORMS = { one: 'before', recount: 'recount', a: 'poll' } as Record<string, string>;

/** The progress read before: one statement over all of the campaign's messages (kept here to compare). */
async function oneStatement(db: Knex, campaignId: number): Promise<number> {
  const [c] = (await db('messages as m')
    .join('deliveries as d', 'd.message_id', 'm.id')
    .where('m.campaign_id', campaignId)
    .select(
      db.raw("SUM(CASE WHEN d.status = 'delivered' THEN 1 ELSE 0 END) AS delivered"),
      db.raw("SUM(CASE WHEN d.status = 'bounced' THEN 1 ELSE 0 END) AS bounced"),
      db.raw("SUM(CASE WHEN d.status IN ('failed') THEN 1 ELSE 0 END) AS failed"),
      db.raw("SUM(CASE WHEN d.status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled"),
      db.raw('SUM(CASE WHEN d.first_opened_at IS NOT NULL THEN 1 ELSE 0 END) AS opened'),
      db.raw('SUM(CASE WHEN d.first_clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS clicked'),
    )) as Record<string, unknown>[];
  return Number(c.delivered);
}

let nextDelivery = 1;
/** Members `from`..`to`-1 of campaign `campaignId` (account and domain `owner`): a message and a delivery each. */
async function members(db: Knex, owner: number, campaignId: number, from: number, to: number, now: number): Promise<void> {
  for (let base = from; base < to; base += CHUNK) {
    const n = Math.min(CHUNK, to - base);
    const messages = Array.from({ length: n }, (_, j) => ({
      id: crypto.randomUUID(),
      user_id: owner,
      domain_id: owner,
      source: 'api',
      from_email: 'news@bench.test',
      subject: 'News',
      tags: '[]',
      message_id_header: `<${base + j}.${campaignId}@bench.test>`,
      mime: Buffer.from('Subject: x\r\n\r\ny\r\n'),
      mime_size: 17,
      campaign_id: campaignId,
      subscriber_id: base + j + 1,
      created_at: now,
    }));
    await db('messages').insert(messages);
    await db('deliveries').insert(
      messages.map((m, j) => {
        const status = STATUSES[(base + j) % STATUSES.length];
        return {
          id: nextDelivery++,
          message_id: m.id,
          user_id: owner,
          domain_id: owner,
          recipient: `r${base + j}@inbox.bench.test`,
          recipient_domain: 'inbox.bench.test',
          kind: 'to',
          status,
          attempts: status === 'queued' ? 0 : 1,
          next_attempt_at: now,
          first_opened_at: status === 'delivered' && (base + j) % 3 === 0 ? now : null,
          created_at: now,
          updated_at: now,
        };
      }),
    );
  }
}

async function benchStore(store: string): Promise<Record<string, number>> {
  return withScratchStore(store, 'campaign', async (db) => {
    const figures: Record<string, number> = {};
    nextDelivery = 1;
    const now = Date.now();
    for (const id of [1, 2]) {
      await seedSender(db, id, now);
      await db('campaigns').insert({ id, user_id: id, domain_id: id, name: 'News', status: 'sending', created_at: now, updated_at: now, launched_at: now });
    }
    let seeded = 0;
    for (const size of SIZES) {
      for (const id of [1, 2]) await members(db, id, id, seeded, size, now);
      seeded = size;
      await db('campaigns').update({ recipients: size, queued: size });
      await db.raw(store === 'sqlite' ? 'ANALYZE' : 'ANALYZE TABLE messages, deliveries');
      const expectDelivered = Array.from({ length: size }, (_, i) => STATUSES[i % STATUSES.length] === 'delivered').filter(Boolean).length;
      const poller = new CampaignProgress({ page: 20_000, liveMs: 50 });
      const errors: unknown[] = [];
      const failed = (err: unknown) => errors.push(err);
      const forms = {
        'one statement (before)': async () => oneStatement(db, 1),
        'recount (now)         ': async () => (await countCampaign(db, 1, 20_000, size)).delivered,
        'a poll (now)          ': async () => (await poller.countsOf(db, 1, size, failed)).delivered,
      };
      const times: Record<string, number[]> = Object.fromEntries(Object.keys(forms).map((k) => [k, []]));
      for (let i = 0; i < 3 + RUNS; i++) {
        for (const [name, read] of Object.entries(forms)) {
          const t = process.hrtime.bigint();
          const delivered = await read();
          if (i >= 3) times[name].push(Number(process.hrtime.bigint() - t) / 1e6);
          if (delivered !== expectDelivered) throw new Error(`${name.trim()} counted ${delivered} delivered of ${expectDelivered} at ${size}`);
        }
      }
      await poller.idle();
      if (errors.length) throw errors[0];
      for (const [name, ms] of Object.entries(times)) {
        ms.sort((a, b) => a - b);
        const [median, p95] = [percentile(ms, 50), percentile(ms, 95)];
        console.log(`${store.padEnd(7)} ${String(size).padStart(7)} recipients: ${name} median ${median.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
        figures[`${store}_${size}_${FORMS[name.trim().split(' ')[0]]}_median_ms`] = Number(median.toFixed(1));
      }
    }
    return figures;
  });
}

benchEachStore(`campaign progress read, ${RUNS} runs per size`, benchStore);
