import type { Knex } from 'knex';

/**
 * Writes `count` `opened` events for a message's delivery straight to the events table, as many as the tracking
 * pixel would record (fixture rows: the doors under test are the lookups that read them). The i-th is at `at(i)`
 * with `data(i)` (default `{}`).
 */
export async function insertOpens(
  db: Knex,
  messageId: string,
  count: number,
  opts: { at: (i: number) => number; data?: (i: number) => Record<string, unknown> },
): Promise<void> {
  const d = await db('deliveries').where({ message_id: messageId }).first();
  const open = (i: number) => ({
    message_id: messageId,
    delivery_id: d.id,
    domain_id: d.domain_id,
    user_id: d.user_id,
    type: 'opened',
    created_at: opts.at(i),
    data: JSON.stringify(opts.data?.(i) ?? {}),
  });
  // knex writes a multi-row insert on SQLite as one SELECT per row joined by UNION ALL, and SQLite takes at most 500.
  const rows = db.client.config.client === 'mysql2' ? 2000 : 250;
  for (let i = 0; i < count; i += rows) await db('events').insert(Array.from({ length: Math.min(rows, count - i) }, (_, j) => open(i + j)));
}
