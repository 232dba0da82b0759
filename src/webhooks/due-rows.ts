import type { Knex } from 'knex';

export interface OutboxRow {
  id: number;
  webhook_id: number;
  event_id: string;
  event_type: string;
  payload: string;
  attempts: number;
  created_at: number;
}

/** A due row and the account its webhook belongs to (fair shares are per account). */
export interface DueRow extends OutboxRow {
  user_id: number;
}

/**
 * The oldest due rows, at most `eachAccount` of each account (webhooks.user_id) and `limit` in all: an account's
 * backlog of thousands of older rows must not keep another account's rows out of the window. Ranked on ids alone,
 * then the rows read.
 */
export async function dueRows(db: Knex, eachAccount: number, limit: number, now = Date.now()): Promise<DueRow[]> {
  const ranked = db('webhook_deliveries as d')
    .join('webhooks as w', 'w.id', 'd.webhook_id')
    .where('d.status', 'pending')
    .where('d.next_attempt_at', '<=', now)
    .where((q) => q.whereNull('d.lease_until').orWhere('d.lease_until', '<', now))
    .select('d.id', 'd.next_attempt_at', 'w.user_id', db.raw('ROW_NUMBER() OVER (PARTITION BY w.user_id ORDER BY d.next_attempt_at, d.id) AS rn'));
  const picked: { id: number; user_id: number }[] = await db
    .from(ranked.as('t'))
    .where('t.rn', '<=', eachAccount)
    .orderBy('t.next_attempt_at')
    .orderBy('t.id')
    .limit(limit)
    .select('t.id', 't.user_id');
  if (!picked.length) return [];
  const rows = new Map<number, OutboxRow>(
    (
      (await db('webhook_deliveries')
        .whereIn(
          'id',
          picked.map((p) => p.id),
        )
        .select('id', 'webhook_id', 'event_id', 'event_type', 'payload', 'attempts', 'created_at')) as OutboxRow[]
    ).map((r) => [Number(r.id), r]),
  );
  return picked.flatMap((p) => {
    const row = rows.get(Number(p.id));
    return row ? [{ ...row, user_id: Number(p.user_id) }] : [];
  });
}
