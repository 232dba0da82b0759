import type { Services } from '../command';
import { holdDomainQueue } from '../delivery/suspension-hold';
import { completeDomainEvent, unfinishedDomainEvent } from './domain-events';
import { DomainRow, STATUS } from './domains';

/** A `domain.suspended` event begun with the status change and not yet given its figure (beginDomainEvent). */
export interface BegunSuspension {
  id: number;
  data: Record<string, unknown>;
  created_at: number;
}

type Deps = Pick<Services, 'db' | 'config' | 'metrics'>;

/**
 * After a suspension committed: holds the domain's waiting mail a page at a time (the worker holds what it leases
 * meanwhile), then completes the event with the count and queues its webhook calls, once (completeDomainEvent).
 * Answers how many deliveries this call held.
 */
export async function finishSuspension(s: Deps, row: DomainRow, begun: BegunSuspension, now = Date.now()): Promise<number> {
  const held = await holdDomainQueue(s.db, s.config.deleteChunkRows, row, now);
  const data = { ...begun.data, held_deliveries: held };
  const completed = await s.db.transaction((trx) => completeDomainEvent(trx, row, begun.id, { type: 'domain.suspended', data }, begun.created_at, begun.data));
  if (completed) s.metrics.domainEvent('domain.suspended');
  return held;
}

/**
 * Finishes the suspensions a failure cut short (the guard's pass runs it): a Suspended domain whose latest
 * `domain.suspended` still has no figure. Without it a guard's suspension cut short stayed without its webhook call
 * until an admin happened to suspend the domain again. Answers the domains finished and those that failed again
 * (each on its own: one domain's lock wait must not leave the others unfinished).
 */
export async function finishCutShortSuspensions(s: Deps, now = Date.now()): Promise<{ finished: number[]; failed: number[] }> {
  const rows = (await s.db('sender_domains').where({ status: STATUS.suspended }).select()) as DomainRow[];
  const out = { finished: [] as number[], failed: [] as number[] };
  for (const row of rows) {
    try {
      const begun = await unfinishedDomainEvent(s.db, Number(row.id), 'domain.suspended', 'held_deliveries');
      if (!begun) continue;
      await finishSuspension(s, row, begun, now);
      out.finished.push(Number(row.id));
    } catch {
      out.failed.push(Number(row.id));
    }
  }
  return out;
}
