import type { Knex } from 'knex';
import type { Services } from '../command';
import { unionOfReads, type Db } from '../db';
import { STATUS } from '../domains/domains';
import { failedWithoutAttempt } from '../events/event-input';
import { recordEvents } from '../events/record';
import { SWITCHED_OFF } from './held-by';
import { enqueueReleased, Released } from './suspension-hold';

/**
 * Mail of a switched-off sender (its account disabled by the admin, or its domain by its owner) is held, not sent
 * (docs/delivery-worker.md). The worker holds each such delivery when it leases it (send-attempt.ts), so a disabled
 * account's backlog costs one lease per delivery, not one every retry step for as long as it stays disabled. While
 * held, `next_attempt_at` is the moment it fails (its first due time plus DELIVERY_MAX_AGE_SECONDS, less any
 * operator hold): held time counts towards its age, unlike a suspension's, since switching a sender off is its
 * owner's (or the admin's) own choice and its mail must not go out days late when switched on again.
 * Switching on releases the rows (releaseSwitchedOn); the sweeper fails the ones past their time (expireSwitchedOff)
 * and releases any a switch-on missed (releaseOrphanedSwitchedOff).
 */

/** Rows per UPDATE and per transaction (bound parameter lists stay small, locks short). */
const CHUNK = 500;
/** Rows a release or a repair reads at a time (a large backlog is released page by page, not read whole). */
const PAGE = 5000;
/** How far back the repair looks for switch-ons (an account's or domain's updated_at). */
const REPAIR_WINDOW_MS = 86_400_000;

/** The delivery's account is not Enabled or its domain is Disabled; built in place, correlated on `deliveries`. */
export function senderSwitchedOff(db: Db, w: Knex.QueryBuilder): Knex.QueryBuilder {
  return w
    .whereExists(function () {
      this.select(db.raw('1')).from('users').whereRaw('users.id = deliveries.user_id').whereNot('account_status', 'Enabled');
    })
    .orWhereExists(function () {
      this.select(db.raw('1')).from('sender_domains').whereRaw('sender_domains.id = deliveries.domain_id').where('status', STATUS.disabled);
    });
}

type HeldRow = {
  id: number;
  message_id: string;
  user_id: number;
  domain_id: number;
  recipient: string;
  attempts: number;
  created_at: number;
  next_attempt_at: number;
  last_reply: string | null;
};
const COLUMNS = ['id', 'message_id', 'user_id', 'domain_id', 'recipient', 'attempts', 'created_at', 'next_attempt_at', 'last_reply'];
const heldOff = { status: 'held', held_by: SWITCHED_OFF };

/**
 * Fails held rows past their time, each with a `failed` event (as a suspension's expiry: no suppression, no bounce).
 * The UPDATE checks the row is still held as switched off, so a release or cancel racing it wins or loses whole.
 */
async function failRows(services: Services, rows: HeldRow[], now: number): Promise<number> {
  const { db } = services;
  let failed = 0;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    const ids = chunk.map((r) => Number(r.id));
    const mine = await db.transaction(async (trx) => {
      const moved = await trx('deliveries')
        .whereIn('id', ids)
        .where(heldOff)
        .where('next_attempt_at', '<=', now)
        .update({ status: 'failed', finished_at: now, updated_at: now, lease_until: null, held_from: null, held_at: null, held_by: null });
      if (!moved) return [];
      let ours = chunk;
      if (moved < chunk.length) {
        const got = (await trx('deliveries').whereIn('id', ids).where({ status: 'failed', finished_at: now }).pluck('id')) as unknown[];
        const gotIds = new Set(got.map(Number));
        ours = chunk.filter((r) => gotIds.has(Number(r.id)));
      }
      await recordEvents(
        trx,
        ours.map((r) =>
          failedWithoutAttempt(r, now, { seconds: Math.max(0, Math.round((now - Number(r.created_at)) / 1000)), smtp_reply: r.last_reply ?? 'not sent' }),
        ),
      );
      return ours;
    });
    for (const r of mine) services.metrics.delivery('failed', null, Number(r.created_at), now);
    failed += mine.length;
  }
  return failed;
}

/**
 * Held rows whose sender is switched on again go back to the status they were held from, due now; those past their
 * time fail instead. The UPDATE checks the sender is still on (read under a lock on MySQL, serialised with the
 * worker's hold). Returns the released rows (to enqueue once committed) and how many failed.
 */
async function releaseRows(services: Services, rows: HeldRow[], now: number): Promise<{ released: Released[]; moved: number; failed: number }> {
  const { db } = services;
  const late = rows.filter((r) => Number(r.next_attempt_at) <= now);
  const failed = late.length ? await failRows(services, late, now) : 0;
  const onTime = rows.filter((r) => Number(r.next_attempt_at) > now);
  const released: Released[] = [];
  let count = 0;
  for (let i = 0; i < onTime.length; i += CHUNK) {
    const chunk = onTime.slice(i, i + CHUNK);
    const moved = await db('deliveries')
      .whereIn(
        'id',
        chunk.map((r) => Number(r.id)),
      )
      .where(heldOff)
      .whereNot((w) => senderSwitchedOff(db, w))
      .update({
        status: db.raw("coalesce(held_from, 'queued')"),
        next_attempt_at: now,
        held_from: null,
        held_at: null,
        held_by: null,
        updated_at: now,
      });
    // A row that did not move (still off, cancelled) gets a job that finds nothing to lease: harmless.
    if (moved) released.push(...chunk.map((r) => ({ id: Number(r.id), attempts: Number(r.attempts), runAt: now })));
    count += moved;
  }
  return { released, moved: count, failed };
}

/** Which held rows a read takes: a sender's (along deliveries_user_queue_idx: user, status, next_attempt_at). */
export type SenderScope = { user_id: number; domain_id?: number };
/** Scopes read in one UNION ALL statement, each member walking the index to its own limit. */
const SCOPES_PER_STATEMENT = 50;

/**
 * Held rows of the given senders that `narrow` keeps, at most `perScope` of each and `limit` in all. Each scope is a
 * range of deliveries_user_queue_idx (a domain's with its owner's user_id, the domain a filter), never a walk of
 * the table: a release paged by id read every tenant's rows (600,000 for 2,000 held, in a review's measurement).
 */
async function heldOfScopes(db: Db, scopes: SenderScope[], narrow: (q: Knex.QueryBuilder) => void, perScope: number, limit: number): Promise<HeldRow[]> {
  const out: HeldRow[] = [];
  for (let i = 0; i < scopes.length && out.length < limit; i += SCOPES_PER_STATEMENT) {
    const reads = scopes.slice(i, i + SCOPES_PER_STATEMENT).map((scope) => {
      const q = db('deliveries')
        .where(scope)
        .where(heldOff)
        .limit(Math.min(perScope, limit - out.length))
        .select(COLUMNS);
      narrow(q);
      return q;
    });
    out.push(...((await unionOfReads(db, reads)) as HeldRow[]));
  }
  return out.slice(0, limit);
}

/**
 * Releases the held mail of an account or of one of its domains just switched on (what is past its time fails),
 * page by page, and enqueues it. Rows still off by the other switch (an enabled account's disabled domain) are not
 * read. Returns how many were released; what a failure here leaves held, the sweeper's repair releases.
 */
export async function releaseSwitchedOn(services: Services, scope: SenderScope, now = Date.now()): Promise<number> {
  const { db } = services;
  let count = 0;
  for (;;) {
    const rows = await heldOfScopes(db, [scope], (q) => q.whereNot((w) => senderSwitchedOff(db, w)), PAGE, PAGE);
    if (!rows.length) return count;
    const { released, moved, failed } = await releaseRows(services, rows, now);
    await enqueueReleased(services, released, now);
    count += moved;
    // A short page was the last; a page that moved nothing (switched off again meanwhile) would come back as it was.
    if (rows.length < PAGE || moved + failed === 0) return count;
  }
}

/**
 * The sweeper's expiry: held rows of senders still switched off whose time has come fail. Driven by the switched-off
 * accounts and domains (few: a read of users and of sender_domains), their rows read along the index, so a sweep
 * reads only rows due to fail. At most `limit` per call; returns how many failed.
 */
export async function expireSwitchedOff(services: Services, now: number, limit = 5000): Promise<number> {
  const { db } = services;
  // Built with from(), not db('sender_domains'): tests stand in for the worker's own domain read by catching the
  // handle's first call on that table (deadline-give-back), and the sweeper runs beside it.
  const users = (await db.from('users').whereNot('account_status', 'Enabled').pluck('id')) as unknown[];
  const domains: { id: number; user_id: number }[] = await db.from('sender_domains').where('status', STATUS.disabled).select('id', 'user_id');
  const scopes: SenderScope[] = [
    ...users.map((id) => ({ user_id: Number(id) })),
    ...domains.map((d) => ({ user_id: Number(d.user_id), domain_id: Number(d.id) })),
  ];
  if (!scopes.length) return 0;
  const rows = await heldOfScopes(db, scopes, (q) => q.where('next_attempt_at', '<=', now), limit, limit);
  return rows.length ? failRows(services, rows, now) : 0;
}

/**
 * The sweeper's repair: held rows of senders switched on again that are still held (a release lost with its process
 * or to an outage, or a hold that committed after the release read the rows, possible under READ COMMITTED or on a
 * cluster) are released and enqueued, or failed when past their time. It looks at the accounts and domains changed
 * in the last REPAIR_WINDOW_MS (a switch-on sets updated_at), each along the index; at most `limit` rows a call.
 */
export async function releaseOrphanedSwitchedOff(services: Services, now: number, limit = PAGE): Promise<number> {
  const { db } = services;
  const since = now - REPAIR_WINDOW_MS;
  const users = (await db.from('users').where('account_status', 'Enabled').where('updated_at', '>=', since).pluck('id')) as unknown[];
  const domains: { id: number; user_id: number }[] = await db
    .from('sender_domains')
    .whereNot('status', STATUS.disabled)
    .where('updated_at', '>=', since)
    .select('id', 'user_id');
  const scopes: SenderScope[] = [
    ...users.map((id) => ({ user_id: Number(id) })),
    ...domains.map((d) => ({ user_id: Number(d.user_id), domain_id: Number(d.id) })),
  ];
  if (!scopes.length) return 0;
  const rows = await heldOfScopes(db, scopes, (q) => q.whereNot((w) => senderSwitchedOff(db, w)), limit, limit);
  if (!rows.length) return 0;
  // Two scopes (an account and one of its domains) may read the same row: each once.
  const unique = [...new Map(rows.map((r) => [Number(r.id), r])).values()];
  const { released, moved, failed } = await releaseRows(services, unique, now);
  await enqueueReleased(services, released, now);
  return moved + failed;
}
