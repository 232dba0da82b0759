import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';

/** What a campaign's deliveries add to its progress (the rest, recipients, queued and skipped, is on its row). */
export interface DeliveryCounts {
  /** Deliveries with a final answer: delivered, bounced or failed. */
  sent: number;
  /** Copies cancelled before they were sent (campaign.cancel, emailgateway.cancelqueuedmessage, DELETE /api/v1/email/{id}). */
  cancelled: number;
  delivered: number;
  bounced: number;
  /** Unique, per delivery. */
  opened: number;
  clicked: number;
}

export const NO_DELIVERIES: DeliveryCounts = { sent: 0, cancelled: 0, delivered: 0, bounced: 0, opened: 0, clicked: 0 };

const SUMS = [
  "SUM(CASE WHEN d.status = 'delivered' THEN 1 ELSE 0 END) AS delivered",
  "SUM(CASE WHEN d.status = 'bounced' THEN 1 ELSE 0 END) AS bounced",
  "SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) AS failed",
  "SUM(CASE WHEN d.status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled",
  'SUM(CASE WHEN d.first_opened_at IS NOT NULL THEN 1 ELSE 0 END) AS opened',
  'SUM(CASE WHEN d.first_clicked_at IS NOT NULL THEN 1 ELSE 0 END) AS clicked',
];

/** Adds one statement's sums (NULL over no rows) to `total`. */
function add(total: DeliveryCounts, c: Record<string, unknown> | undefined): void {
  const n = (k: string) => Number(c?.[k] ?? 0);
  total.delivered += n('delivered');
  total.bounced += n('bounced');
  total.sent += n('delivered') + n('bounced') + n('failed');
  total.cancelled += n('cancelled');
  total.opened += n('opened');
  total.clicked += n('clicked');
}

/**
 * Counts one campaign's deliveries, `page` of its messages per statement (the (campaign_id, id) index bounds each
 * page). One statement over a large campaign reads every message and delivery at once: 0.4 s at 100,000 recipients
 * on MariaDB here and 32 s at 1,000,000 (from disk), far past DB_QUERY_TIMEOUT_MS, so it never answered. Pages keep
 * each statement short; the total stays proportional to the campaign, which is what CampaignProgress bounds. A
 * campaign that queued fewer messages than a page is counted by the plain join, which costs 10-35 % less than a
 * page's (no derived table, no distinct count); `queued` only picks the form, both count every message.
 */
export async function countCampaign(db: Knex, campaignId: number, page: number, queued: number): Promise<DeliveryCounts> {
  const total = { ...NO_DELIVERIES };
  if (queued < page) {
    const rows = (await db('messages as m')
      .join('deliveries as d', 'd.message_id', 'm.id')
      .where('m.campaign_id', campaignId)
      .select(SUMS.map((sum) => db.raw(sum)))) as Record<string, unknown>[];
    add(total, rows[0]);
    return total;
  }
  for (let after = ''; ;) {
    // The next `page` messages by id (a range of the index), their deliveries summed, how many, and the last id as the cursor.
    const messages = db('messages').where('campaign_id', campaignId).where('id', '>', after).orderBy('id').limit(page).select('id').as('m');
    const [c] = (await db
      .from(messages)
      .leftJoin('deliveries as d', 'd.message_id', 'm.id')
      .select(db.raw('MAX(m.id) AS last'), db.raw('COUNT(DISTINCT m.id) AS messages'), ...SUMS.map((sum) => db.raw(sum)))) as Record<string, unknown>[];
    // No message past the cursor: MAX and every SUM are NULL.
    if (c?.last === null || c?.last === undefined) return total;
    add(total, c);
    // A short page was the last: no statement to find nothing after it.
    if (Number(c.messages) < page) return total;
    after = String(c.last);
  }
}

export interface ProgressOptions {
  /** Messages per counting statement (CAMPAIGN_PROGRESS_PAGE). */
  page: number;
  /** A campaign counted faster than this is counted afresh on every read (CAMPAIGN_PROGRESS_LIVE_MS). */
  liveMs: number;
}

/** A count is reused for this many times what it cost, so recounting takes at most 1/20 of a connection per campaign ... */
const REUSE_FACTOR = 20;
/** ... for at least this long ... */
const MIN_REUSE_MS = 2_000;
/**
 * ... and at most this long: a sending campaign's figures must move. A count that has to read from disk costs far more
 * (53 s at 1,000,000 recipients with MariaDB's default 128 MiB buffer pool, against 1 s at 250,000 from memory), and
 * 20 times that would leave its figures unchanged for 18 minutes.
 */
const MAX_REUSE_MS = 300_000;
/** Campaigns whose counts this process keeps (a list page shows up to 100). */
const MAX_CAMPAIGNS = 1_000;

interface Entry {
  counts: DeliveryCounts;
  at: number;
  costMs: number;
  refreshing?: Promise<DeliveryCounts>;
}

/**
 * Campaign progress counts, bounded in cost: the console polls a sending campaign every few seconds and each list
 * page shows many. A campaign counted in under `liveMs` (small ones: 10,000 recipients take about 25 ms on MariaDB)
 * is counted on every read, exactly as before. A costlier one is reused for 20 times its cost (at least 2 s, at most
 * 5 minutes), and once older than that, served as it is while one recount runs in the background, so a poll never
 * waits for a large recount (only the first read of a campaign in this process does). Per process and bounded (an
 * LRU of 1,000 campaigns); campaign.cancel forgets its campaign.
 */
export class CampaignProgress {
  private readonly entries = new LRUCache<number, Entry>({ max: MAX_CAMPAIGNS });
  private readonly loading = new Map<number, Promise<DeliveryCounts>>();

  constructor(private readonly opts: ProgressOptions) {}

  async countsOf(db: Knex, campaignId: number, queued: number, onRefreshError: (err: unknown) => void): Promise<DeliveryCounts> {
    const e = this.entries.get(campaignId);
    if (!e || e.costMs < this.opts.liveMs) return this.load(db, campaignId, queued);
    if (Date.now() - e.at >= Math.min(MAX_REUSE_MS, Math.max(MIN_REUSE_MS, e.costMs * REUSE_FACTOR)) && !e.refreshing) {
      e.refreshing = this.load(db, campaignId, queued);
      // The stale counts stay in place when a recount fails; the next read after this one tries again.
      e.refreshing.catch(onRefreshError).finally(() => (e.refreshing = undefined));
    }
    return e.counts;
  }

  /** After campaign.cancel: the next read counts afresh. */
  forget(campaignId: number): void {
    this.entries.delete(campaignId);
    this.loading.delete(campaignId); // a count already running keeps its callers but is not stored
  }

  /** Waits for every count this process has running (a bench or test before it closes the database). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.loading.values()]);
  }

  /** One count of a campaign at a time in this process: concurrent first reads share it. */
  private load(db: Knex, campaignId: number, queued: number): Promise<DeliveryCounts> {
    const pending = this.loading.get(campaignId);
    if (pending) return pending;
    const started = Date.now();
    const p: Promise<DeliveryCounts> = countCampaign(db, campaignId, this.opts.page, queued)
      .then((counts) => {
        if (this.loading.get(campaignId) === p) this.entries.set(campaignId, { counts, at: Date.now(), costMs: Date.now() - started });
        return counts;
      })
      .finally(() => {
        if (this.loading.get(campaignId) === p) this.loading.delete(campaignId);
      });
    this.loading.set(campaignId, p);
    return p;
  }
}
