import { isOutage } from '../outage';

/** What recordByDeadline needs to say, where, about which outcome. */
export interface RecordPlan<T> {
  /** Epoch ms by which the outcome must be recorded: past it, another pass may send the work again. */
  until: number;
  /** Longest wait between tries (they start at 100 ms and double): short, so the record lands soon after a store is back. */
  maxWaitMs: number;
  /** The whole record (outcome, events, logs) in one transaction. */
  record: () => Promise<T>;
  /** The last resort at the deadline: the outcome alone on its own row; null when even that failed. */
  rowOnly: () => Promise<T | null>;
  /** Told once, at the first failure that is not an outage (an outage is logged where it is answered). */
  onFailure: (err: Error) => void;
  /** Told when only the row could be written: what was lost. */
  onRowOnly: (err: Error) => void;
}

/**
 * Records the outcome of work already done elsewhere (a message handed to a server, a webhook answered 2xx), whatever
 * fails: the record is tried again until the deadline, then the row alone is written, so the work is never done twice.
 * Giving up at the first error that was not an outage left the row leased, and every lease's end did the work again.
 * Throws the last error only when not even the row could be written (the store away past the deadline).
 */
export async function recordByDeadline<T>(plan: RecordPlan<T>): Promise<T> {
  let told = false;
  for (let wait = 100; ; wait = Math.min(wait * 2, plan.maxWaitMs)) {
    try {
      return await plan.record();
    } catch (err) {
      if (Date.now() + wait < plan.until) {
        if (!told && !isOutage(err)) plan.onFailure(err as Error);
        told = true;
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      const written = await plan.rowOnly().catch(() => null);
      if (written === null) throw err;
      plan.onRowOnly(err as Error);
      return written;
    }
  }
}
