import type { Knex } from 'knex';
import { idsByColumn, idsOf, keysInOrder, removeInRuns } from '../store/chunked-delete';

/**
 * The outbox's statuses in the order a call moves through them (pending, then failed or delivered): one that settles
 * while its status is walked is met again in its new one.
 */
const STATUSES = ['pending', 'failed', 'delivered'];

/**
 * A webhook's queued calls and attempt log a run at a time (src/store/chunked-delete.ts), before its row goes and
 * cascades what was written behind the walk: a busy webhook's log cascaded in one statement outlasted
 * DB_QUERY_TIMEOUT_MS. webhook_deliveries has no (webhook_id, id) index: each status is walked along
 * (webhook_id, status, next_attempt_at). A deletion cut short leaves the webhook with a shorter log; the call again ends it.
 */
export async function purgeWebhookRows(db: Knex, size: number, webhookId: number): Promise<void> {
  for (const status of STATUSES)
    await removeInRuns(db, size, idsByColumn(db, 'webhook_deliveries', 'next_attempt_at', { webhook_id: webhookId, status }), (trx, rows) =>
      trx('webhook_deliveries').whereIn('id', idsOf(rows)).delete(),
    );
  await removeInRuns(db, size, keysInOrder<number>(db, 'webhook_attempts', 'id', { webhook_id: webhookId }), (trx, keys) =>
    trx('webhook_attempts').whereIn('id', keys).delete(),
  );
}

/** Deletes the webhook rows `q` names (a scope's query on `webhooks`), each after its calls and log; how many went. */
export async function deleteWebhooksIn(db: Knex, size: number, q: Knex.QueryBuilder): Promise<number> {
  const ids = ((await q.clone().pluck('id')) as unknown[]).map(Number);
  for (const id of ids) await purgeWebhookRows(db, size, id);
  return ids.length ? Number(await q.clone().whereIn('id', ids).delete()) : 0;
}
