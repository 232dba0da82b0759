import { enqueueDeliveries } from './enqueue';
import { expandOrphans } from '../mail/expand-batches';
import { releaseOrphanedHolds } from './suspension-hold';
import { expireSuspensionHolds } from './suspension-expiry';
import { expireSwitchedOff, releaseOrphanedSwitchedOff } from './switched-off-hold';
import { dueUnleased } from './due-unleased';
import type { WorkerCtx } from './worker-ctx';

/** How old a pending_batches row must be before the sweeper takes it for an orphan (its job normally comes first). */
const PENDING_GRACE_MS = 10_000;
/** Deliveries one sweep re-enqueues at most; the next sweep takes the rest. */
const SWEEP_LIMIT = 5000;
/** How often a sweep also looks for suspension holds left behind by a lift (suspension-hold.ts): they are rare. */
const HOLD_REPAIR_MS = 300_000;

export interface Sweeper {
  /** Re-enqueues due, unleased deliveries; resolves to how many. */
  sweep(graceMs?: number): Promise<number>;
  stop(): void;
}

/**
 * The database is the source of truth, the queue only a hint: the sweeper re-enqueues what the queue lost, every
 * SWEEP_INTERVAL_SECONDS, at start and when Redis comes back.
 */
export function startSweeper(ctx: WorkerCtx): Sweeper {
  const { db, config, logger } = ctx.services;
  const { services } = ctx;

  /**
   * Re-enqueues work that is due (by `graceMs`) but unleased: its job was lost (queue restart) or its worker died.
   * An expired lease waits the same grace: its worker may still be recording the outcome of a send it made while
   * the database was away (settleDurably).
   */
  let lastRepair = 0;
  async function sweep(graceMs = config.sweepGraceSeconds * 1000): Promise<number> {
    const now = Date.now();
    // Batches accepted as one row whose job was lost (a process died between commit and enqueue, an in-process queue
    // gone with its process): expanded here after a few seconds, their deliveries enqueued (and counted) by expansion.
    // A failure here must not stop the deliveries' sweep below.
    const expanded = await expandOrphans(services, now - Math.min(graceMs, PENDING_GRACE_MS)).catch((err) => {
      logger.warn('expanding pending batches failed', { error: (err as Error).message });
      return 0;
    });
    if (expanded) logger.info('sweeper expanded pending batches', { count: expanded });
    // A full sweep (at start, after Redis came back, or asked for) always repairs; the timed ones every few minutes.
    if (graceMs === 0 || now - lastRepair >= HOLD_REPAIR_MS) {
      lastRepair = now;
      const freed = await releaseOrphanedHolds(services, now).catch((err) => {
        logger.warn('releasing orphaned suspension holds failed', { error: (err as Error).message });
        return 0;
      });
      if (freed) logger.warn('sweeper released deliveries held for a suspension that was lifted', { count: freed });
      const on = await releaseOrphanedSwitchedOff(services, now).catch((err) => {
        logger.warn('releasing deliveries of senders switched on again failed', { error: (err as Error).message });
        return 0;
      });
      if (on) logger.warn('sweeper released (or failed, when too old) deliveries held for a sender that was switched on again', { count: on });
    }
    // Every sweep: a hold past SUSPENSION_HOLD_MAX_SECONDS ends as failed (suspension-expiry.ts). One line per sweep, no addresses.
    const expired = await expireSuspensionHolds(services, now).catch((err) => {
      logger.warn('failing expired suspension holds failed', { error: (err as Error).message });
      return 0;
    });
    if (expired)
      logger.warn('sweeper failed deliveries held longer than SUSPENSION_HOLD_MAX_SECONDS for a suspended sender domain', {
        count: expired,
        maxSeconds: config.suspensionHoldMaxSeconds,
      });
    // Every sweep: mail of a switched-off account or domain fails at its DELIVERY_MAX_AGE (switched-off-hold.ts).
    const offExpired = await expireSwitchedOff(services, now).catch((err) => {
      logger.warn('failing expired deliveries of switched-off senders failed', { error: (err as Error).message });
      return 0;
    });
    if (offExpired) logger.info('sweeper failed deliveries held past DELIVERY_MAX_AGE_SECONDS for a switched-off sender', { count: offExpired });
    const rows = await dueUnleased(db, now - graceMs, SWEEP_LIMIT);
    await enqueueDeliveries(
      services,
      rows.map((r) => ({
        id: Number(r.id),
        attempts: Number(r.attempts),
        runAt: now,
        // A retry's own job id (d<id>-a<n>) may be held by a delayed job that no longer matches the row: queue control
        // in another process (the CLI on an embedded install) moved its time. Naming the job after the row's due time
        // gets it a job anyway; repeated sweeps reuse that id, so a row waits on two jobs at most (its lease decides).
        retake: Number(r.lease_until) > 0 ? Number(r.lease_until) : Number(r.attempts) > 0 ? Number(r.next_attempt_at) : undefined,
      })),
    );
    return rows.length;
  }

  let sweeping = false;
  const runSweep = () => {
    if (sweeping) return;
    sweeping = true;
    sweep()
      .then((n) => n && logger.info('sweeper re-enqueued deliveries', { count: n }))
      .catch((err) => logger.warn('sweep failed', { error: (err as Error).message }))
      .finally(() => (sweeping = false));
  };
  const timer = setInterval(runSweep, config.sweepIntervalSeconds * 1000);
  timer.unref();
  // At start, take over whatever was pending (an in-process queue starts empty); likewise when Redis comes back
  // (it may have lost its jobs, and what was accepted meanwhile was never enqueued). A few tries: the queue's
  // own connection may be ready a moment after this one.
  let sweepRetry: NodeJS.Timeout | undefined;
  const sweepAll = (what: string, triesLeft: number) => {
    clearTimeout(sweepRetry);
    if (sweeping) {
      sweepRetry = setTimeout(() => sweepAll(what, triesLeft), 500);
      return;
    }
    sweeping = true;
    sweep(0)
      .then((n) => n && logger.info(`${what} sweep re-enqueued deliveries`, { count: n }))
      .catch((err) => {
        logger.warn(`${what} sweep failed`, { error: (err as Error).message });
        if (triesLeft > 1) sweepRetry = setTimeout(() => sweepAll(what, triesLeft - 1), 1000);
      })
      .finally(() => (sweeping = false));
  };
  setImmediate(() => sweepAll('startup', 1));
  let redisLost = false;
  services.redis?.on('close', () => (redisLost = true));
  services.redis?.on('ready', () => {
    if (!redisLost) return;
    redisLost = false;
    sweepAll('reconnect', 5);
  });

  return {
    sweep,
    stop() {
      clearInterval(timer);
      clearTimeout(sweepRetry);
    },
  };
}
