import type { Knex } from 'knex';
import { LIST_STATES } from '../delivery/queue-list';

/** Messages a transaction: short enough that the sweep never holds the tables for long. */
const BATCH = 400;
/** Batches per call: a sweep runs every 10 minutes, so a backlog goes down over a few sweeps without a long lock. */
const MAX_BATCHES = 50;

/** Epoch ms before which messages (and their events) may have been purged; 0 when nothing is purged. */
export function retentionCutoff(retentionDays: number, now = Date.now()): number {
  return retentionDays > 0 ? now - retentionDays * 86_400_000 : 0;
}

/**
 * Deletes messages created before `now - retentionDays` whose deliveries have all ended (none queued, scheduled,
 * deferred, held or being sent): the message, its stored content, its deliveries and tracked links (the foreign keys
 * cascade) and its events (they have no key), each batch in one transaction. The hourly statistics (stats_*_rollup)
 * are kept. 0 keeps everything. Without this every message ever sent stays in the database, bodies included.
 */
export async function purgeMessages(db: Knex, retentionDays: number, now = Date.now()): Promise<number> {
  if (retentionDays <= 0) return 0;
  const cutoff = retentionCutoff(retentionDays, now);
  let purged = 0;
  for (let i = 0; i < MAX_BATCHES; i += 1) {
    const ids: string[] = await db('messages as m')
      .where('m.created_at', '<', cutoff)
      .whereNotExists(db('deliveries as d').select(db.raw('1')).whereRaw('d.message_id = m.id').whereIn('d.status', LIST_STATES.all))
      .orderBy('m.created_at')
      .limit(BATCH)
      .pluck('m.id');
    if (!ids.length) break;
    purged += await db.transaction(async (trx) => {
      await trx('events').whereIn('message_id', ids).delete();
      return Number(await trx('messages').whereIn('id', ids).delete());
    });
    if (ids.length < BATCH) break;
    // On the embedded store each batch completes without I/O: a turn of the event loop between them.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return purged;
}
