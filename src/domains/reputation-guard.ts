import type { Services } from '../command';
import { passLoop } from '../pass-loop';
import {
  accountsNearLimits,
  figuresOf,
  flaggedDomainCounts,
  GuardedDomain,
  hourRows,
  liftOf,
  ReputationFigures,
  Start,
  startOf,
  sumFrom,
  WINDOW_HOURS,
} from './reputation-figures';
import { HOUR_MS, hourOf } from '../stats/rollups';
import { beginDomainEvent } from './domain-events';
import { finishCutShortSuspensions, finishSuspension } from './suspension-finish';
import { keptHours, pruneKeptHours } from './retained-hours';
import { DomainRow, STATUS } from './domains';

/** Domains (or accounts) read per query (well under SQLite's bound-parameter limit). */
const CHUNK = 400;
/**
 * More accounts than this share of those judged over a limit in one pass (and at least 3) points at the installation,
 * not at its senders: the shared IP blocklisted, the smarthost refusing, a flood of forged reports. Nobody is
 * suspended then, and the pass logs an error for the operator.
 */
const MASS_SHARE = 0.2;
type Reason = 'bounce_rate' | 'complaint_rate';
const MASS_MIN = 3;

export interface ReputationVerdict extends ReputationFigures {
  domainId: number;
  userId: number;
  /** The domain's reputation_from when its figures were read: a lift since then voids the verdict. */
  from: number | null;
  /** Whose figures these are: the domain's own, or its account's (every domain of the owner added up). */
  scope: 'domain' | 'account';
  /** For an account's: how many domains the account has. */
  domains?: number;
  /**
   * For an account's: each of the account's domains with its reputation_from when the figures were read. Its
   * siblings' lifts move where their hours count from (startFor), so a lift since voids it too.
   */
  accountLifts?: [number, number | null][];
}

export interface ReputationGuard {
  /** One pass at `now` (a test's clock): every Enabled domain over a limit is Suspended. */
  runOnce(now?: number): Promise<{ checked: number; suspended: number[]; held: number[] }>;
  stop(): Promise<void>;
}

/**
 * Suspends Enabled sender domains whose hard-bounce or complaint rate over the last 24 hours passes the configured
 * limit (config.reputation), as the large ESPs do, so that one customer's bad list cannot burn the installation's
 * IPs for everyone: on the domain's own figures, or on its account's (all the owner's domains added up). Rates come
 * from the hourly rollups (two small reads per 400 domains: which domains had a bounce or complaint, then those
 * domains' figures; and per 400 accounts with such a domain, their domains' figures), so a pass costs the same
 * whatever the mail volume. A complaint needs
 * `minComplaints` of them as well as the rate: the intake takes reports from anyone, and any recipient knows a
 * message's VERP address. A suspension is a conditional UPDATE from Enabled (and the reputation_from it was judged
 * with), so with several workers each domain is suspended once, with one `domain.suspended` event (and its webhook
 * calls), and never over a lift made during the pass (the domain's own, or for an account's verdict any of the
 * account's). Only an admin lifts it (emailgateway.setdomainstatus); the guard then counts from the lift on
 * (`reputation_from`): the lift's hour net of what it held at the lift (`reputation_base`).
 */
export function createReputationGuard(services: Services, opts: { clock?: () => number; timer?: boolean } = {}): ReputationGuard {
  const { db, config, logger } = services;
  const limits = config.reputation;
  const clock = opts.clock ?? Date.now;

  /** Why the domain is over a limit, or null. */
  function overLimit(v: ReputationVerdict): Reason | null {
    if (v.outcomes < limits.minMessages) return null;
    if (limits.bouncePercent > 0 && v.bounceRate >= limits.bouncePercent) return 'bounce_rate';
    if (limits.complaintPercent > 0 && v.complained >= limits.minComplaints && v.complaintRate >= limits.complaintPercent) return 'complaint_rate';
    return null;
  }

  const fromOf = (d: GuardedDomain) => (d.reputation_from === null || d.reputation_from === undefined ? null : Number(d.reputation_from));

  /** The verdicts of the chunk's domains that had a hard bounce or a complaint in the window, each on its own figures. */
  async function domainVerdicts(rows: GuardedDomain[], now: number): Promise<ReputationVerdict[]> {
    const counts = await flaggedDomainCounts(db, rows, now);
    return rows
      .filter((d) => counts.has(Number(d.id)))
      .map((d) => ({ domainId: Number(d.id), userId: Number(d.user_id), from: fromOf(d), scope: 'domain', ...figuresOf(counts.get(Number(d.id))!) }));
  }

  /**
   * Accounts judged on all their domains added up, so that a bad list spread over several domains (each under the
   * minimum volume or the rate), or moved to a new domain after a suspension, is caught. Only accounts with two
   * domains or more and one Enabled (a single domain's figures are its own verdict), and only those near a limit
   * (accountsNearLimits). Each Enabled domain is judged on the account's hours from its own last lift on (startFor):
   * a suspended sibling's hours count against a domain added since, but not against one the admin lifted after them
   * (else a domain lifted on its own, its sibling left suspended, would be suspended again at the next pass). Returns
   * the verdicts over a limit, carrying the account's figures, and the accounts judged. A deleted domain's kept hours
   * (retained-hours.ts) count as one more domain's, toward the two as well: else deleting all but one domain would
   * leave that one judged on its own figures alone, which is the escape the kept hours close.
   */
  async function accountVerdicts(now: number): Promise<{ over: [ReputationVerdict, Reason][]; judged: number[] }> {
    const over: [ReputationVerdict, Reason][] = [];
    const judged = new Set<number>();
    const kept = await keptHours(db, now);
    const users = await accountsNearLimits(db, now, limits, kept.sums);
    for (let i = 0; i < users.length; i += CHUNK) {
      const domains: GuardedDomain[] = await db('sender_domains')
        .whereIn('user_id', users.slice(i, i + CHUNK))
        .select('id', 'user_id', 'status', 'reputation_from', 'reputation_base');
      const byUser = new Map<number, GuardedDomain[]>();
      for (const d of domains) (byUser.get(Number(d.user_id)) ?? byUser.set(Number(d.user_id), []).get(Number(d.user_id))!).push(d);
      const domainCount = (u: number, ds: GuardedDomain[]) => ds.length + (kept.rows.has(u) ? 1 : 0);
      const several = [...byUser].filter(([u, ds]) => domainCount(u, ds) > 1 && ds.some((d) => d.status === STATUS.enabled));
      if (!several.length) continue;
      const all = several.flatMap(([, ds]) => ds);
      const starts = new Map(all.map((d) => [Number(d.id), startOf(d, now)]));
      const lifts = new Map(all.map((d) => [Number(d.id), liftOf(d, now)]));
      const rows = await hourRows(db, [...starts.keys()], Math.min(...[...starts.values()].map((st) => st.hour)));
      const rowsOf = new Map<number, typeof rows>();
      for (const r of rows) (rowsOf.get(Number(r.domain_id)) ?? rowsOf.set(Number(r.domain_id), []).get(Number(r.domain_id))!).push(r);
      /**
       * Where domain `id`'s hours start for a domain last lifted at `lift`: its own start (net of its base) unless the
       * judged domain's lift came after it. Then from that lift on, but only from the next whole hour: how much of
       * the lift's hour the sibling had before it is not known (its base is the judged domain's own only). Kept rows
       * (KEPT_DOMAIN) have no start of their own: theirs was applied when they were kept.
       */
      const startFor = (lift: number | null, id: number): Start => {
        const own = starts.get(id);
        const theirs = lifts.get(id);
        if (lift === null) return own ?? { hour: hourOf(now) - WINDOW_HOURS + 1, base: null };
        if (own && theirs !== null && theirs !== undefined && theirs >= lift) return own;
        return { hour: Math.max(own?.hour ?? 0, Math.ceil(lift / HOUR_MS)), base: null };
      };
      for (const [u, ds] of several) {
        const seen = ds.map((d): [number, number | null] => [Number(d.id), fromOf(d)]);
        const accountRows = [...ds.flatMap((d) => rowsOf.get(Number(d.id)) ?? []), ...(kept.rows.get(u) ?? [])];
        // Per lift, not per domain: most domains share one (none in the window), so a reseller's thousand domains cost
        // one sum, not a thousand.
        const byLift = new Map<number | null, ReputationFigures>();
        for (const d of ds.filter((x) => x.status === STATUS.enabled)) {
          const lift = lifts.get(Number(d.id))!;
          let figures = byLift.get(lift);
          if (!figures) byLift.set(lift, (figures = figuresOf(sumFrom(accountRows, (id) => startFor(lift, id)))));
          const v: ReputationVerdict = {
            domainId: Number(d.id),
            userId: Number(d.user_id),
            from: fromOf(d),
            scope: 'account',
            domains: domainCount(u, ds),
            accountLifts: seen,
            ...figures,
          };
          if (figures.outcomes >= limits.minMessages) judged.add(v.userId);
          const reason = overLimit(v);
          if (reason) over.push([v, reason]);
        }
      }
    }
    return { over, judged: [...judged] };
  }

  async function suspend(v: ReputationVerdict, reason: Reason, now: number): Promise<boolean> {
    const data = {
      reason,
      scope: v.scope,
      ...(v.domains === undefined ? {} : { account_domains: v.domains }),
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
      // An account's verdict also counted its siblings' hours, each from its own lift: a sibling lifted since the read
      // (its hours forgiven) voids it. Compared domain by domain, not against the latest lift read: a lift stamped by
      // a host whose clock is behind, or in the same millisecond, is still a change. Only lifted domains are read (a
      // lift sets reputation_from, nothing clears it), so a reseller's many suspensions in one pass do not each read
      // all of the account's domains.
      if (v.scope === 'account' && v.accountLifts) {
        const current = (await trx('sender_domains')
          .where({ user_id: v.userId })
          .whereNotNull('reputation_from')
          .select('id', 'reputation_from')) as GuardedDomain[];
        const read = new Map(v.accountLifts);
        if (current.some((d) => read.has(Number(d.id)) && read.get(Number(d.id)) !== fromOf(d))) return null;
      }
      if (!(await where(trx).update({ status: STATUS.suspended, updated_at: now }))) return null;
      return { row, eventId: await beginDomainEvent(trx, row, { type: 'domain.suspended', data: { ...data, held_deliveries: null } }, now) };
    });
    if (!done) return false;
    // Suspended: its mail is held and the event completed after. Cut short, the domain is suspended all the same (the
    // worker holds what it leases), and the next pass finishes it (finishCutShortSuspensions).
    try {
      const held = await finishSuspension(services, done.row, { id: done.eventId, data: { ...data, held_deliveries: null }, created_at: now }, now);
      logger.warn('domain.suspended', { domainId: v.domainId, domain: done.row.domain, ...data, held_deliveries: held });
    } catch (err) {
      logger.warn('domain.suspended; its waiting mail is not all held yet: the next guard pass finishes it', {
        domainId: v.domainId,
        domain: done.row.domain,
        error: (err as Error).message,
      });
    }
    return true;
  }

  async function pass(now: number): Promise<{ checked: number; suspended: number[]; held: number[] }> {
    // Before the check that the guard is on: deletions keep hours either way, and an admin's suspension cut short is finished too.
    await pruneKeptHours(db, now);
    const cut = await finishCutShortSuspensions(services, now);
    if (cut.finished.length || cut.failed.length) logger.warn('reputation guard: suspensions a failure had cut short', cut);
    const suspended: number[] = [];
    if (!(limits.bouncePercent > 0 || limits.complaintPercent > 0)) return { checked: 0, suspended, held: [] };
    let checked = 0;
    const judged = new Set<number>();
    const over: [ReputationVerdict, Reason][] = [];
    for (let after = 0; ;) {
      const rows: GuardedDomain[] = await db('sender_domains')
        .where('status', STATUS.enabled)
        .where('id', '>', after)
        .orderBy('id')
        .limit(CHUNK)
        .select('id', 'user_id', 'reputation_from', 'reputation_base');
      if (!rows.length) break;
      after = Number(rows[rows.length - 1].id);
      checked += rows.length;
      for (const v of await domainVerdicts(rows, now)) {
        if (v.outcomes >= limits.minMessages) judged.add(v.userId);
        const reason = overLimit(v);
        if (reason) over.push([v, reason]);
      }
      if (rows.length < CHUNK) break;
    }
    const accounts = await accountVerdicts(now);
    for (const u of accounts.judged) judged.add(u);
    // A domain over on its own figures is suspended for those; the account's verdict covers its other domains.
    const own = new Set(over.map(([v]) => v.domainId));
    over.push(...accounts.over.filter(([v]) => !own.has(v.domainId)));
    // Counted in accounts, not domains: one tenant with many bad domains must not pass for an installation-wide problem
    // (and so stop every suspension).
    const overAccounts = new Set(over.map(([v]) => v.userId));
    if (overAccounts.size >= Math.max(MASS_MIN, Math.ceil(MASS_SHARE * judged.size))) {
      logger.error('reputation guard: too many accounts over a limit at once; suspending none (an installation-wide problem?)', {
        accounts: overAccounts.size,
        judged: judged.size,
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
