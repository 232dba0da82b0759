import type { Knex } from 'knex';
import { unionOfReads } from '../db';

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

/** Webhooks whose window one statement reads: each is a subquery of the UNION, a few dozen keep it short. */
const HOOKS_PER_STATEMENT = 50;

/** Rows a worker may lease: pending, due, and not leased by another worker (or that lease ran out). */
function due(q: Knex.QueryBuilder, now: number): Knex.QueryBuilder {
  return q
    .where('status', 'pending')
    .where('next_attempt_at', '<=', now)
    .where((w) => w.whereNull('lease_until').orWhere('lease_until', '<', now));
}

/**
 * The oldest due rows, at most `eachAccount` of each account (webhooks.user_id) and `limit` in all: an account's
 * backlog of thousands of older rows must not keep another account's rows out of the window.
 *
 * The work is bounded by the number of webhooks, not by the backlog: first the webhooks that have a due row (a
 * seek each on (webhook_id, status, next_attempt_at)), then each one's oldest `eachAccount` due rows (an ordered
 * read of the same index), then the per-account cap and the overall order here. Ranking every due row with
 * ROW_NUMBER() in the database sorted the whole backlog on every read, and a worker reads at every poll and each
 * time a call ends while one account holds its share: at 200,000 rows of a down receiver that was most of a core.
 */
export async function dueRows(db: Knex, eachAccount: number, limit: number, now = Date.now()): Promise<DueRow[]> {
  // Nothing due (an idle outbox, most polls): one seek on (status, next_attempt_at), not a probe of every webhook.
  if (!(await due(db('webhook_deliveries'), now).first('id'))) return [];
  // A scalar subquery per webhook, not EXISTS: MariaDB may turn EXISTS into a semi-join that scans the due rows.
  const probe = due(db('webhook_deliveries as d').select('d.id').whereRaw('?? = ??', ['d.webhook_id', 'w.id']), now).limit(1);
  const hooks: { id: number; user_id: number; due: number | null }[] = await db('webhooks as w').select('w.id', 'w.user_id', probe.as('due'));
  const owners = new Map(hooks.filter((h) => h.due !== null).map((h) => [Number(h.id), Number(h.user_id)]));
  if (!owners.size) return [];

  const ids = [...owners.keys()];
  const candidates: { id: number; webhook_id: number; next_attempt_at: number }[] = [];
  for (let i = 0; i < ids.length; i += HOOKS_PER_STATEMENT) {
    const reads = ids
      .slice(i, i + HOOKS_PER_STATEMENT)
      .map((hook) =>
        due(db('webhook_deliveries').where('webhook_id', hook), now)
          .orderBy('next_attempt_at')
          .orderBy('id')
          .limit(eachAccount)
          .select('id', 'webhook_id', 'next_attempt_at'),
      );
    candidates.push(...(await unionOfReads(db, reads)));
  }

  // Oldest first (the index order within a webhook; ids break ties as there), each account up to its cap.
  candidates.sort((a, b) => Number(a.next_attempt_at) - Number(b.next_attempt_at) || Number(a.id) - Number(b.id));
  const taken = new Map<number, number>();
  const picked: { id: number; user_id: number }[] = [];
  for (const c of candidates) {
    if (picked.length >= limit) break;
    const account = owners.get(Number(c.webhook_id))!;
    const n = taken.get(account) ?? 0;
    if (n >= eachAccount) continue;
    taken.set(account, n + 1);
    picked.push({ id: Number(c.id), user_id: account });
  }

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
    const row = rows.get(p.id);
    return row ? [{ ...row, user_id: p.user_id }] : [];
  });
}
