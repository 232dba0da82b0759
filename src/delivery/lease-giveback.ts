import { isMysql, placeholders, sql } from '../db';
import { enqueueDeliveries } from './enqueue';
import type { WorkerCtx } from './worker-ctx';

/** The longest wait between two tries of a give-back (200 ms doubling up to it), or two looks at running threads. */
const GIVE_BACK_MAX_WAIT_MS = 5000;

export interface LeaseGiveBack {
  /**
   * In the background: gives back the rows among `ids` stamped `until` by this worker, and enqueues them. `threads`:
   * the server threads of the group's statements given up on (abandonedThread), which may still stamp rows.
   */
  giveBack(ids: number[], until: number, threads?: number[]): void;
  /** Ends every give-back still waiting to try again (the stamps then run out, and the sweeper takes the rows). */
  stop(): void;
}

/**
 * A lease group that gave up (its answer lost, asked again for ~3 s) may have stamped its rows all the same: they
 * stayed leased to this worker with no one sending them, for LEASE_SECONDS (300 s) until the sweeper took them back.
 * After a short database blip, mail waited five minutes. So whatever carries the group's stamp goes back to waiting
 * (its stamp cleared; its status deferred after an attempt, else queued, as before: the lease no longer changes the
 * status, leased.ts, so this writes a queued or deferred row's own value again and only moves a scheduled one, or one
 * an earlier release stored as 'sending') with a fresh job, retried with backoff until it lands or the stamp would
 * have run out anyway. The caller's error is not delayed by it.
 *
 * A try the client gave up on (its statement timeout) can still be running on the server: its kill is best effort
 * (one at a time per pool, and it needs the server to answer), and an UPDATE waiting on a row lock commits when the
 * lock goes, possibly after the give-back looked. So on MySQL, while any of the group's abandoned `threads` is still
 * in the server's process list, the give-back keeps watching (200 ms doubling to 5 s, until the stamp would run out
 * or the worker stops), and once they are all gone looks once more: by then nothing can stamp the rows.
 */
export function createLeaseGiveBack(ctx: Pick<WorkerCtx, 'services' | 'owner'>): LeaseGiveBack {
  const { db, logger } = ctx.services;
  const { owner, services } = ctx;
  const waiting = new Set<NodeJS.Timeout>();
  let stopped = false;

  function giveBack(ids: number[], until: number, threads: number[] = []): void {
    const where = `where \`id\` in ${placeholders(ids.length)} and \`lease_owner\` = ? and \`lease_until\` = ?`;
    const bindings = [...ids, owner, until];
    // Read first which rows carry the stamp, then clear it: an UPDATE whose answer is lost in turn leaves no stamp to
    // find them by, and they still need their jobs.
    let ours: { id: number; attempts: number }[] | undefined;
    // The rows given back so far (by the first look, or the last), for what a watch that runs out of time says.
    const given = new Set<number>();
    /** `again`: the last look's give-back, whose jobs need ids of their own (deliveryJobId). */
    const once = async (again?: number): Promise<number> => {
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
          "update `deliveries` set `status` = case when `attempts` > 0 then 'deferred' else 'queued' end, `lease_owner` = '', `lease_until` = 0, `updated_at` = ? " +
            where,
          [Date.now(), ...bindings],
        ),
      ]);
      for (const r of ours) given.add(r.id);
      // Named after the stamp given back (as the sweeper names a retaken lease's job): the finished job's id is taken.
      // The last look's jobs are named apart from the first's: the first job, still waiting or running (where it
      // found the row stamped again, and left it), would swallow them, and the row would wait for the sweeper. Two
      // jobs for one row send it once: each leases the row first, and only a due, unleased row is leased.
      await enqueueDeliveries(
        services,
        ours.map((r) => ({ id: r.id, attempts: r.attempts, runAt: Date.now(), retake: until, again })),
      ).catch((err) =>
        logger.warn('deliveries given back could not be enqueued; the sweeper will pick them up', { count: ours!.length, error: (err as Error).message }),
      );
      return ours.length;
    };
    /** How many of `threads` the server still runs (its process list shows a connection's own threads without PROCESS). */
    const running = async (): Promise<number> => {
      const [rows] = (await db.raw(`select \`ID\` from information_schema.\`PROCESSLIST\` where \`ID\` in ${placeholders(threads.length)}`, threads)) as [
        unknown[],
      ];
      return rows.length;
    };
    // 'first': the look made at once; 'watching': abandoned threads may still stamp rows; 'last': they are gone.
    let phase: 'first' | 'watching' | 'last' = 'first';
    const watch = threads.length > 0 && isMysql(db);
    /** True when the give-back is done; false to look again later. */
    const step = async (): Promise<boolean> => {
      if (phase === 'first') {
        const n = await once();
        if (n) logger.info('deliveries of a failed lease group given back', { count: n });
        if (!watch) return true;
        phase = 'watching';
      }
      // The worker's stop ends it between two statements too, not only between two tries.
      if (stopped) return true;
      if (phase === 'watching') {
        if (await running()) return false;
        if (stopped) return true;
        phase = 'last';
        ours = undefined; // read again: a statement that committed since may have stamped more
      }
      const n = await once(2);
      if (n) logger.info('deliveries stamped late by a failed lease group given back', { count: n });
      return true;
    };
    let wait = 200;
    const later = (what: string, err?: unknown) => {
      if (stopped) return;
      if (Date.now() + wait >= until) {
        // What is true: the rows the first look gave back are back; the others may carry the stamp (now or later).
        const fields = { givenBack: given.size, mayRemain: ids.length - given.size, reason: what, ...(err ? { error: (err as Error).message } : {}) };
        if (given.size)
          logger.warn('deliveries of a failed lease group given back in part; any stamped since wait for their lease to run out (LEASE_SECONDS)', fields);
        else logger.warn('deliveries of a failed lease group not given back; their lease runs out after LEASE_SECONDS', fields);
        return;
      }
      const timer = setTimeout(() => {
        waiting.delete(timer);
        attempt();
      }, wait);
      timer.unref();
      waiting.add(timer);
      wait = Math.min(wait * 2, GIVE_BACK_MAX_WAIT_MS);
    };
    const attempt = () => {
      if (stopped) return;
      step().then(
        (done) => done || later('a statement of the group still runs on the server'),
        (err) => later('the database did not answer', err),
      );
    };
    attempt();
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
