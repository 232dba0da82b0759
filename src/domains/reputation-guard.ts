import type { Services } from '../command';
import { HOUR_MS, hourOf } from '../stats/rollups';
import { percentOf } from '../stats/reputation';
import { recordDomainEvents } from './domain-events';
import { DomainRow, STATUS } from './domains';

/** The window the rates are taken over: the current UTC hour and the 23 before it. */
const WINDOW_HOURS = 24;
/** Domains read per query (well under SQLite's bound-parameter limit). */
const CHUNK = 400;

export interface ReputationVerdict {
  domainId: number;
  /** Outcomes at the recipients' MTAs in the window: delivered + bounced. */
  outcomes: number;
  bounced: number;
  complained: number;
  bounceRate: number;
  complaintRate: number;
}

export interface ReputationGuard {
  /** One pass at `now` (a test's clock): every Enabled domain over a limit is Suspended. */
  runOnce(now?: number): Promise<{ checked: number; suspended: number[] }>;
  stop(): Promise<void>;
}

/**
 * Suspends Enabled sender domains whose bounce or complaint rate over the last 24 hours passes the configured limit
 * (config.reputation), as the large ESPs do, so that one customer's bad list cannot burn the installation's IPs for
 * everyone. Rates come from the hourly rollups (two small reads per 400 domains: which domains had any bounce or
 * complaint, then those domains' figures), so a pass costs the same whatever the mail volume. A suspension is a
 * conditional UPDATE from Enabled, so with several workers each domain is suspended once, with one
 * `domain.suspended` event (and its webhook calls). Only an admin lifts it (emailgateway.setdomainstatus); the guard
 * then counts from the next whole hour on (`reputation_from`).
 */
export function createReputationGuard(services: Services, opts: { clock?: () => number; timer?: boolean } = {}): ReputationGuard {
  const { db, config, logger } = services;
  const limits = config.reputation;
  const clock = opts.clock ?? Date.now;
  let running: Promise<{ checked: number; suspended: number[] }> | null = null;
  let timer: NodeJS.Timeout | null = null;

  function overLimit(v: ReputationVerdict): boolean {
    if (v.outcomes < limits.minMessages) return false;
    return (limits.bouncePercent > 0 && v.bounceRate >= limits.bouncePercent) || (limits.complaintPercent > 0 && v.complaintRate >= limits.complaintPercent);
  }

  /** The figures of the chunk's domains that had a bounce or complaint in the window. */
  async function verdicts(rows: Pick<DomainRow, 'id' | 'reputation_from'>[], now: number): Promise<ReputationVerdict[]> {
    const nowHour = hourOf(now);
    const fromHour = new Map(rows.map((r) => [Number(r.id), Math.max(nowHour - WINDOW_HOURS + 1, Math.ceil(Number(r.reputation_from ?? 0) / HOUR_MS))]));
    const earliest = Math.min(...fromHour.values());
    const flagged: { domain_id: number }[] = await db('stats_rollup')
      .whereIn('domain_id', [...fromHour.keys()])
      .where('unit', 'h')
      .where('bucket', '>=', earliest)
      .whereIn('type', ['bounced', 'complained'])
      .where('count', '>', 0)
      .distinct('domain_id');
    if (!flagged.length) return [];
    const counts: { domain_id: number; bucket: number; type: string; count: number }[] = await db('stats_rollup')
      .whereIn(
        'domain_id',
        flagged.map((f) => Number(f.domain_id)),
      )
      .where('unit', 'h')
      .where('bucket', '>=', earliest)
      .whereIn('type', ['delivered', 'bounced', 'complained'])
      .select('domain_id', 'bucket', 'type', 'count');
    const byDomain = new Map<number, { delivered: number; bounced: number; complained: number }>();
    for (const c of counts) {
      const id = Number(c.domain_id);
      if (Number(c.bucket) < fromHour.get(id)!) continue;
      const f = byDomain.get(id) ?? byDomain.set(id, { delivered: 0, bounced: 0, complained: 0 }).get(id)!;
      f[c.type as 'delivered' | 'bounced' | 'complained'] += Number(c.count);
    }
    return [...byDomain].map(([domainId, f]) => {
      const outcomes = f.delivered + f.bounced;
      return {
        domainId,
        outcomes,
        bounced: f.bounced,
        complained: f.complained,
        bounceRate: percentOf(f.bounced, outcomes),
        complaintRate: percentOf(f.complained, f.delivered),
      };
    });
  }

  async function suspend(v: ReputationVerdict, now: number): Promise<boolean> {
    return db.transaction(async (trx) => {
      const row: DomainRow | undefined = await trx('sender_domains').where({ id: v.domainId, status: STATUS.enabled }).first();
      if (!row) return false;
      const n = await trx('sender_domains').where({ id: v.domainId, status: STATUS.enabled }).update({ status: STATUS.suspended, updated_at: now });
      if (!n) return false;
      const data = {
        reason: v.bounceRate >= limits.bouncePercent && limits.bouncePercent > 0 ? 'bounce_rate' : 'complaint_rate',
        window_hours: WINDOW_HOURS,
        outcomes: v.outcomes,
        bounced: v.bounced,
        complained: v.complained,
        bounce_rate: v.bounceRate,
        complaint_rate: v.complaintRate,
        bounce_limit: limits.bouncePercent,
        complaint_limit: limits.complaintPercent,
      };
      await recordDomainEvents(trx, row, [{ type: 'domain.suspended', data }], now);
      logger.warn('domain.suspended', { domainId: v.domainId, domain: row.domain, ...data });
      services.metrics.domainEvent('domain.suspended');
      return true;
    });
  }

  async function pass(now: number): Promise<{ checked: number; suspended: number[] }> {
    const suspended: number[] = [];
    if (!(limits.bouncePercent > 0 || limits.complaintPercent > 0)) return { checked: 0, suspended };
    let checked = 0;
    let after = 0;
    for (;;) {
      const rows: Pick<DomainRow, 'id' | 'reputation_from'>[] = await db('sender_domains')
        .where('status', STATUS.enabled)
        .where('id', '>', after)
        .orderBy('id')
        .limit(CHUNK)
        .select('id', 'reputation_from');
      if (!rows.length) break;
      after = Number(rows[rows.length - 1].id);
      checked += rows.length;
      for (const v of await verdicts(rows, now)) {
        if (overLimit(v) && (await suspend(v, now))) suspended.push(v.domainId);
      }
      // This process's sends see the suspension at once (other processes within their 1 s credential cache).
      if (suspended.length) services.store.forgetCredentials();
      if (rows.length < CHUNK) break;
    }
    return { checked, suspended };
  }

  function runOnce(now = clock()) {
    running ??= pass(now).finally(() => (running = null));
    return running;
  }

  const everyMs = limits.checkIntervalSeconds * 1000;
  if (opts.timer !== false && everyMs > 0) {
    const tick = () =>
      runOnce()
        .catch((err) => logger.warn('reputation check failed', { error: (err as Error).message }))
        .finally(() => {
          if (timer) timer = setTimeout(tick, everyMs).unref();
        });
    timer = setTimeout(tick, everyMs).unref();
  }

  return {
    runOnce,
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await running?.catch(() => undefined);
    },
  };
}
