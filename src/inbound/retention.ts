import type { Knex } from 'knex';

const BATCH = 1000;
/** Batches per call: a sweep runs every 10 minutes, so a backlog goes down over a few sweeps without a long lock. */
const MAX_BATCHES = 50;

/**
 * Deletes mail the bounce intake received before `now - retentionMs`. The intake takes mail from anyone and stores
 * each message whole (up to 10 MiB), so without this its table only grows. Returns how many rows went.
 */
export async function purgeInbound(db: Knex, retentionMs: number, now = Date.now()): Promise<number> {
  const cutoff = now - retentionMs;
  let purged = 0;
  for (let i = 0; i < MAX_BATCHES; i += 1) {
    const ids: number[] = await db('inbound_messages').where('received_at', '<', cutoff).orderBy('received_at').limit(BATCH).pluck('id');
    if (!ids.length) break;
    purged += await db('inbound_messages').whereIn('id', ids).delete();
    if (ids.length < BATCH) break;
  }
  return purged;
}
