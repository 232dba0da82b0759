import type { Knex } from 'knex';
import type { EventInput } from './event-input';
export type { EventInput } from './event-input';
import { planRollups } from '../stats/rollups';
import { Hook, planWebhookEvents } from '../webhooks/outbox';
import { BatchTx, insertRows, Read, readAlone, runInTurn, Stmt } from '../db';

/** What the caller already knows, so the writer need not read it back. */
export interface EventHints {
  /** Tags of (some of) the events' messages, by message id. */
  tags?: Map<string, string[]>;
  /** The webhook subscriptions of the events' domains and accounts (subscriptionsOf), when read already. */
  subscribed?: Hook[];
}

/**
 * THE way an event is written: the row, the statistics rollups and the webhook outbox, all inside the
 * caller's transaction, so stats and webhooks never disagree with the events table.
 */
export async function recordEvents(trx: Knex | Knex.Transaction, events: EventInput[], hints: EventHints = {}, tx?: BatchTx): Promise<void> {
  if (!events.length) return;
  const q = tx?.q ?? trx;
  const read: Read = tx ? async (stmt) => (await tx.run([stmt]))[0] : readAlone;
  // Columns in one order for every row, so the rows go as one plain multi-row INSERT.
  const rows = events.map((e) => ({
    message_id: e.message_id,
    delivery_id: e.delivery_id,
    domain_id: e.domain_id,
    user_id: e.user_id,
    type: e.type,
    created_at: e.created_at,
    data: JSON.stringify(e.data),
  }));
  const writes: Stmt[] = [];
  for (let i = 0; i < rows.length; i += 500) writes.push(insertRows(q, 'events', rows.slice(i, i + 500)));
  // Reads first (tags, acceptance times, subscribed webhooks), then every write together.
  writes.push(...(await planRollups(q, events, hints.tags, read)), ...(await planWebhookEvents(q, events, read, hints.subscribed)));
  if (tx) tx.later(writes);
  else await runInTurn(writes);
}
