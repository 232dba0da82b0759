import type { Knex } from 'knex';
import type { EventInput } from './event-input';
export type { EventInput } from './event-input';
import { planRollups } from '../stats/rollups';
import { Hook, planWebhookEvents, subscribable } from '../webhooks/outbox';
import { BatchTx, insertRows, quoteId, Read, readAlone, runInTurn, Sql, Stmt } from '../db';

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
  const rows = events.map(eventRow);
  const writes: Stmt[] = [];
  for (let i = 0; i < rows.length; i += 500) writes.push(insertRows(q, 'events', rows.slice(i, i + 500)));
  // Reads first (tags, acceptance times, subscribed webhooks), then every write together.
  writes.push(...(await planRollups(q, events, hints.tags, read)), ...(await planWebhookEvents(q, events, read, hints.subscribed)));
  if (tx) tx.later(writes);
  else await runInTurn(writes);
}

/** Columns in one order for every row, so the rows go as one plain multi-row INSERT. */
const eventRow = (e: EventInput) => ({
  message_id: e.message_id,
  delivery_id: e.delivery_id,
  domain_id: e.domain_id,
  user_id: e.user_id,
  type: e.type,
  created_at: e.created_at,
  data: JSON.stringify(e.data),
});

/** The session variable that holds the first id of the deliveries INSERT just run (see eventsAfterInsert). */
const FIRST_ID = '@postern_first_delivery_id';

/**
 * recordEvents' writes for events of deliveries whose ids are not known yet, so that they go in the same round trip
 * as the multi-row INSERT that makes them (MySQL, with BatchTx.idStep set): `chunks` pairs each such INSERT with
 * its events, whose `delivery_id` is the row's position in that INSERT. Returned in order: each INSERT, then the
 * first id it made (LAST_INSERT_ID()) kept in a session variable, then its events with `delivery_id` = that id +
 * position × `idStep`; then `others` (events with their ids), the rollups. Only for events no webhook subscribes
 * to (the outbox would need the ids now); the caller reads the ids from the INSERTs' results in the same way.
 */
export async function eventsAfterInsert(
  q: Knex | Knex.Transaction,
  chunks: { insert: Stmt; events: EventInput[] }[],
  others: EventInput[],
  idStep: number,
  hints: EventHints = {},
): Promise<Stmt[]> {
  const all = [...chunks.flatMap((c) => c.events), ...others];
  if (all.some((e) => subscribable(e.type))) throw new Error('eventsAfterInsert: a subscribable event needs its delivery id before it is written');
  const cols = Object.keys(eventRow({} as EventInput));
  const tuple = `(${cols.map((c) => (c === 'delivery_id' ? `${FIRST_ID} + ?` : '?')).join(', ')})`;
  const out: Stmt[] = [];
  for (const c of chunks) {
    out.push(c.insert, new Sql(q, `set ${FIRST_ID} = last_insert_id()`, []));
    if (!c.events.length) continue;
    const bindings = c.events.flatMap((e) => Object.values(eventRow({ ...e, delivery_id: (e.delivery_id as number) * idStep })));
    const text = `insert into ${quoteId('events')} (${cols.map(quoteId).join(', ')}) values ${new Array(c.events.length).fill(tuple).join(', ')}`;
    out.push(new Sql(q, text, bindings, true));
  }
  for (let i = 0; i < others.length; i += 500) out.push(insertRows(q, 'events', others.slice(i, i + 500).map(eventRow)));
  // Queued, scheduled and suppressed events read nothing for their rollups (tags come in the hints).
  const noRead: Read = () => Promise.reject(new Error('eventsAfterInsert: these events need no reads for their rollups'));
  out.push(...(await planRollups(q, all, hints.tags, noRead)));
  return out;
}
