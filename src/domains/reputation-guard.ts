import type { Services } from '../command';
import { passLoop } from '../pass-loop';
import { HARD_BOUNCES, HOUR_MS, hourOf } from '../stats/rollups';
import { percentOf } from '../stats/reputation';
import { holdDomainQueue } from '../delivery/suspension-hold';
import { recordDomainEvents } from './domain-events';
import { DomainRow, STATUS } from './domains';

/** The window the rates are taken over: the current UTC hour and the 23 before it. */
const WINDOW_HOURS = 24;
/** Domains read per query (well under SQLite's bound-parameter limit). */
const CHUNK = 400;
/**
 * More domains than this share of those judged over a limit in one pass (and at least 3) points at the installation,
 * not at its senders: the shared IP blocklisted, the smarthost refusing, a flood of forged reports. Nobody is
 * suspended then, and the pass logs an error for the operator.
 */
const MASS_SHARE = 0.2;
const MASS_MIN = 3;

export interface ReputationVerdict {
  domainId: number;
  /** The domain's reputation_from when its figures were read: a lift since then voids the verdict. */
  from: number | null;
  /** Outcomes at the recipients' MTAs in the window: delivered + bounced (any class). */
  outcomes: number;
  /** Bounces that blame the address (class hard): a block, a full mailbox or a refused message say nothing of the list. */
  hardBounced: number;
  delivered: number;
  complained: number;
  bounceRate: number;
  complaintRate: number;
}

export interface ReputationGuard {
  /** One pass at `now` (a test's clock): every Enabled domain over a limit is Suspended. */
  runOnce(now?: number): Promise<{ checked: number; suspended: number[]; held: number[] }>;
  stop(): Promise<void>;
}

/**
 * Suspends Enabled sender domains whose hard-bounce or complaint rate over the last 24 hours passes the configured
 * limit (config.reputation), as the large ESPs do, so that one customer's bad list cannot burn the installation's
 * IPs for everyone. Rates come from the hourly rollups (two small reads per 400 domains: which domains had a bounce
 * or complaint, then those domains' figures), so a pass costs the same whatever the mail volume. A complaint needs
 * `minComplaints` of them as well as the rate: the intake takes reports from anyone, and any recipient knows a
 * message's VERP address. A suspension is a conditional UPDATE from Enabled (and the reputation_from it was judged
 * with), so with several workers each domain is suspended once, with one `domain.suspended` event (and its webhook
 * calls), and never over a lift made during the pass. Only an admin lifts it (emailgateway.setdomainstatus); the guard
 * then counts from the next whole hour on (`reputation_from`).
 */
export function createReputationGuard(services: Services, opts: { clock?: () => number; timer?: boolean } = {}): ReputationGuard {
  const { db, config, logger } = services;
  const limits = config.reputation;
  const clock = opts.clock ?? Date.now;

  /** Why the domain is over a limit, or null. */
  function overLimit(v: ReputationVerdict): 'bounce_rate' | 'complaint_rate' | null {
    if (v.outcomes < limits.minMessages) return null;
    if (limits.bouncePercent > 0 && v.bounceRate >= limits.bouncePercent) return 'bounce_rate';
    if (limits.complaintPercent > 0 && v.complained >= limits.minComplaints && v.complaintRate >= limits.complaintPercent) return 'complaint_rate';
    return null;
  }

  /** The figures of the chunk's domains that had a hard bounce or a complaint in the window. */
  async function verdicts(rows: Pick<DomainRow, 'id' | 'reputation_from'>[], now: number): Promise<ReputationVerdict[]> {
    const nowHour = hourOf(now);
    const fromHour = new Map(rows.map((r) => [Number(r.id), Math.max(nowHour - WINDOW_HOURS + 1, Math.ceil(Number(r.reputation_from ?? 0) / HOUR_MS))]));
    const from = new Map(rows.map((r) => [Number(r.id), r.reputation_from === null || r.reputation_from === undefined ? null : Number(r.reputation_from)]));
    const earliest = Math.min(...fromHour.values());
    const flagged: { domain_id: number }[] = await db('stats_rollup')
      .whereIn('domain_id', [...fromHour.keys()])
      .where('unit', 'h')
      .where('bucket', '>=', earliest)
      .whereIn('type', [HARD_BOUNCES, 'complained'])
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
      .whereIn('type', ['delivered', 'bounced', HARD_BOUNCES, 'complained'])
      .select('domain_id', 'bucket', 'type', 'count');
    const byDomain = new Map<number, Record<string, number>>();
    for (const c of counts) {
      const id = Number(c.domain_id);
      if (Number(c.bucket) < fromHour.get(id)!) continue;
      const f = byDomain.get(id) ?? byDomain.set(id, {}).get(id)!;
      f[c.type] = (f[c.type] ?? 0) + Number(c.count);
    }
    return [...byDomain].map(([domainId, f]) => {
      const delivered = f.delivered ?? 0;
      const outcomes = delivered + (f.bounced ?? 0);
      const hardBounced = f[HARD_BOUNCES] ?? 0;
      const complained = f.complained ?? 0;
      return {
        domainId,
        from: from.get(domainId) ?? null,
        outcomes,
        hardBounced,
        delivered,
        complained,
        bounceRate: percentOf(hardBounced, outcomes),
        complaintRate: percentOf(complained, delivered),
      };
    });
  }

  async function suspend(v: ReputationVerdict, reason: 'bounce_rate' | 'complaint_rate', now: number): Promise<boolean> {
    const data = {
      reason,
      window_hours: WINDOW_HOURS,
      outcomes: v.outcomes,
      hard_bounced: v.hardBounced,
      delivered: v.delivered,
      complained: v.complained,
      bounce_rate: v.bounceRate,
      complaint_rate: v.complaintRate,
      bounce_limit: limits.bouncePercent,
      complaint_limit: limits.complaintPercent,
    };
    const done = await db.transaction(async (trx) => {
      // Still Enabled, and not lifted since its figures were read (a lift sets reputation_from): else no suspension.
      const where = (q: typeof trx) =>
        q('sender_domains')
          .where({ id: v.domainId, status: STATUS.enabled })
          .where((w) => (v.from === null ? w.whereNull('reputation_from') : w.where('reputation_from', v.from)));
      const row: DomainRow | undefined = await where(trx).first();
      if (!row) return null;
      if (!(await where(trx).update({ status: STATUS.suspended, updated_at: now }))) return null;
      const held = await holdDomainQueue(trx, v.domainId, now);
      await recordDomainEvents(trx, row, [{ type: 'domain.suspended', data: { ...data, held_deliveries: held } }], now);
      return { row, held };
    });
    if (!done) return false;
    logger.warn('domain.suspended', { domainId: v.domainId, domain: done.row.domain, ...data, held_deliveries: done.held });
    services.metrics.domainEvent('domain.suspended');
    return true;
  }

  async function pass(now: number): Promise<{ checked: number; suspended: number[]; held: number[] }> {
    const suspended: number[] = [];
    if (!(limits.bouncePercent > 0 || limits.complaintPercent > 0)) return { checked: 0, suspended, held: [] };
    let checked = 0;
    let judged = 0;
    const over: [ReputationVerdict, 'bounce_rate' | 'complaint_rate'][] = [];
    for (let after = 0; ;) {
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
        if (v.outcomes >= limits.minMessages) judged += 1;
        const reason = overLimit(v);
        if (reason) over.push([v, reason]);
      }
      if (rows.length < CHUNK) break;
    }
    if (over.length >= Math.max(MASS_MIN, Math.ceil(MASS_SHARE * judged))) {
      logger.error('reputation guard: too many domains over a limit at once; suspending none (an installation-wide problem?)', {
        over: over.length,
        judged,
        domainIds: over.slice(0, 20).map(([v]) => v.domainId),
      });
      services.metrics.reputationPass('mass_stop');
      return { checked, suspended, held: over.map(([v]) => v.domainId) };
    }
    for (const [v, reason] of over) {
      try {
        if (await suspend(v, reason, now)) suspended.push(v.domainId);
      } catch (err) {
        // One domain's failure (a lock wait, a lost connection) must not leave the rest unchecked.
        logger.warn('reputation guard: suspension failed', { domainId: v.domainId, error: (err as Error).message });
      }
    }
    // This process's sends see the suspension at once (other processes within their 1 s credential cache).
    if (suspended.length) services.store.forgetCredentials();
    services.metrics.reputationPass(suspended.length ? 'suspended' : 'clear');
    return { checked, suspended, held: [] };
  }

  /** A pass, counted by result (a failed one too, whoever ran it). */
  const counted = (now: number) =>
    pass(now).catch((err: Error) => {
      services.metrics.reputationPass('failed');
      throw err;
    });

  const everyMs = limits.checkIntervalSeconds * 1000;
  return passLoop(counted, {
    clock,
    timer: opts.timer !== false && everyMs > 0,
    firstMs: everyMs,
    everyMs,
    onError: (err) => logger.warn('reputation check failed', { error: err.message }),
  });
}
