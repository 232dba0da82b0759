import type { Services } from '../command';
import { affectedRows, runInTurn, sql } from '../db';
import { enqueueDeliveries } from '../delivery/enqueue';
import { isOutage } from '../outage';
import { GuardLost, writePrepared } from './write-prepared';
import { decodePending } from './pending-batches';

/**
 * Expanding pending_batches rows (src/mail/pending-batches.ts) into the messages, deliveries and events that accept
 * would have written: by the delivery worker (the row's job), by the sweeper (a lost job) and before every read of
 * a user's mail (the dispatcher), so a lookup finds every accepted message at once.
 */

/** Rows read per round when settling a user's (or everyone's) pending rows. */
const SETTLE_PAGE = 50;

async function rowsOf(services: Services, text: string, bindings: unknown[]): Promise<Record<string, unknown>[]> {
  return (await runInTurn([sql(services.db, text, bindings)]))[0] as Record<string, unknown>[];
}

/**
 * Expands one row in one transaction: the DELETE that claims it (it must remove exactly the one row, so two
 * expanders, or an expander and a reader, never both write it: on MySQL the second waits on the row lock, then
 * finds it gone and rolls back; SQLite runs one transaction at a time), then the same writePrepared as accept with the accept's timestamps; then enqueues the
 * deliveries. Any failure rolls back and leaves the row for a retry. Resolves to the deliveries written, 0 when
 * the row was already expanded.
 */
export async function expandBatch(services: Services, id: string): Promise<number> {
  const [row] = await rowsOf(services, 'select `payload` from `pending_batches` where `id` = ?', [id]);
  if (!row) return 0;
  const entries = decodePending(row.payload as Buffer);
  let written: { id: number; messageId: string }[];
  try {
    written = await services.store.batchTransaction(async (tx) => {
      // The claim goes alone, before the rows: a loser that waited on the row lock must stop here, not on the
      // duplicate message ids its own inserts would meet once the winner has committed.
      const [claimed] = await tx.run([sql(tx.q, 'delete from `pending_batches` where `id` = ?', [id])]);
      if (affectedRows(claimed) !== 1) throw new GuardLost([0]);
      return writePrepared(tx, entries, []);
    });
  } catch (err) {
    if (err instanceof GuardLost) return 0;
    throw err;
  }
  const runAt = new Map(entries.map((e) => [e.p.messageId, (e.p.message.send_at as number | null) ?? e.now]));
  // Committed: a lost enqueue leaves deliveries the sweeper re-enqueues, as after an accept.
  await enqueueDeliveries(
    services,
    written.map((d) => ({ id: d.id, attempts: 0, runAt: runAt.get(d.messageId)! })),
  ).catch((err) => services.logger.warn('enqueue failed; the sweeper will pick the deliveries up', { batch: id, error: (err as Error).message }));
  return written.length;
}

/** Expands each row; a row that cannot be expanded (other than in an outage, which is thrown) is logged and left. */
async function expandEach(services: Services, ids: string[]): Promise<{ expanded: number; failed: number }> {
  let expanded = 0;
  let failed = 0;
  for (const id of ids) {
    try {
      await expandBatch(services, id);
      expanded += 1;
    } catch (err) {
      if (isOutage(err)) throw err;
      failed += 1;
      services.logger.error('pending batch could not be expanded; left for a retry', { batch: id, error: (err as Error).message });
    }
  }
  return { expanded, failed };
}

/**
 * Before a read of a user's mail (or, with null, of every user's: admin commands): expands their pending rows,
 * oldest first, so the read sees every accepted message. With none pending it costs one indexed lookup.
 */
export async function settlePending(services: Services, userId: number | null): Promise<void> {
  const text =
    userId === null
      ? 'select `id` from `pending_batches` order by `created_at` limit ' + SETTLE_PAGE
      : 'select `id` from `pending_batches` where `user_id` = ? order by `created_at` limit ' + SETTLE_PAGE;
  for (;;) {
    const ids = (await rowsOf(services, text, userId === null ? [] : [userId])).map((r) => String(r.id));
    if (!ids.length) return;
    const { expanded } = await expandEach(services, ids);
    // A full page of rows that all failed would be read again forever: the read goes on without them.
    if (ids.length < SETTLE_PAGE || !expanded) return;
  }
}

/** The sweeper's part: rows older than `olderThan` (ms since epoch) whose job was lost. Resolves to how many it expanded. */
export async function expandOrphans(services: Services, olderThan: number, limit = 200): Promise<number> {
  const rows = await rowsOf(services, 'select `id` from `pending_batches` where `created_at` <= ? order by `created_at` limit ' + Number(limit), [olderThan]);
  return (
    await expandEach(
      services,
      rows.map((r) => String(r.id)),
    )
  ).expanded;
}
