import { placeholders, sql } from '../db';
import { enqueueDeliveries } from './enqueue';
import type { WorkerCtx } from './worker-ctx';

/** The longest wait between two tries of a give-back (200 ms doubling up to it). */
const GIVE_BACK_MAX_WAIT_MS = 5000;

export interface LeaseGiveBack {
  /** In the background: gives back the rows among `ids` stamped `until` by this worker, and enqueues them. */
  giveBack(ids: number[], until: number): void;
  /** Ends every give-back still waiting to try again (the stamps then run out, and the sweeper takes the rows). */
  stop(): void;
}

/**
 * A lease group that gave up (its answer lost, asked again for ~3 s) may have stamped its rows all the same: they
 * stayed 'sending', leased to this worker with no one sending them, for LEASE_SECONDS (300 s) until the sweeper took
 * them back. After a short database blip, mail waited five minutes. So whatever carries the group's stamp goes back to
 * waiting (deferred after an attempt, else queued: the lease overwrote the status) with a fresh job, retried with
 * backoff until it lands or the stamp would have run out anyway. The caller's error is not delayed by it.
 */
export function createLeaseGiveBack(ctx: Pick<WorkerCtx, 'services' | 'owner'>): LeaseGiveBack {
  const { db, logger } = ctx.services;
  const { owner, services } = ctx;
  const waiting = new Set<NodeJS.Timeout>();
  let stopped = false;

  function giveBack(ids: number[], until: number): void {
    const where = `where \`id\` in ${placeholders(ids.length)} and \`lease_owner\` = ? and \`lease_until\` = ? and \`status\` = 'sending'`;
    const bindings = [...ids, owner, until];
    // Read first which rows carry the stamp, then clear it: an UPDATE whose answer is lost in turn leaves no stamp to
    // find them by, and they still need their jobs.
    let ours: { id: number; attempts: number }[] | undefined;
    const once = async (): Promise<number> => {
      if (!ours) {
        const [rows] = (await services.store.runTogether([sql(db, `select \`id\`, \`attempts\` from \`deliveries\` ${where}`, bindings)])) as {
          id: number;
          attempts: number;
        }[][];
        ours = rows.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts) }));
      }
      if (!ours.length) return 0;
      await services.store.runTogether([
        sql(
          db,
          "update `deliveries` set `status` = case when `attempts` > 0 then 'deferred' else 'queued' end, `lease_owner` = null, `lease_until` = null, `updated_at` = ? " +
            where,
          [Date.now(), ...bindings],
        ),
      ]);
      // Named after the stamp given back (as the sweeper names a retaken lease's job): the finished job's id is taken.
      await enqueueDeliveries(
        services,
        ours.map((r) => ({ id: r.id, attempts: r.attempts, runAt: Date.now(), retake: until })),
      ).catch((err) =>
        logger.warn('deliveries given back could not be enqueued; the sweeper will pick them up', { count: ours!.length, error: (err as Error).message }),
      );
      return ours.length;
    };
    let wait = 200;
    const attempt = () => {
      once().then(
        (n) => n && logger.info('deliveries of a failed lease group given back', { count: n }),
        (err) => {
          if (stopped) return;
          if (Date.now() + wait >= until) {
            logger.warn('deliveries of a failed lease group not given back; their lease runs out after LEASE_SECONDS', { error: (err as Error).message });
            return;
          }
          const timer = setTimeout(() => {
            waiting.delete(timer);
            attempt();
          }, wait);
          timer.unref();
          waiting.add(timer);
          wait = Math.min(wait * 2, GIVE_BACK_MAX_WAIT_MS);
        },
      );
    };
    if (!stopped) attempt();
  }

  return {
    giveBack,
    stop() {
      stopped = true;
      for (const t of waiting) clearTimeout(t);
      waiting.clear();
    },
  };
}
