import type { Knex } from 'knex';
import type { Services } from '../command';
import { unionOfReads, type Db } from '../db';
import { STATUS } from '../domains/domains';
import { failedWithoutAttempt } from '../events/event-input';
import { recordEvents } from '../events/record';
import { SWITCHED_OFF } from './held-by';
import { deliveriesAlong, queueIndexOf } from './queue-pages';
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
/** Rows one scope gives a statement at most, and a sweep's expiry or repair handles at most. */
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
        .update({ status: 'failed', finished_at: now, updated_at: now, lease_until: 0, held_from: null, held_at: null, held_by: null });
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

/** Which held rows a read takes: a sender's (along its queue index: user or domain, status, next_attempt_at). */
export type SenderScope = { user_id: number; domain_id?: number };
/** Scopes read in one UNION ALL statement, each member walking the index to its own limit. */
const SCOPES_PER_STATEMENT = 50;

/**
 * Works through the held rows of the given senders that `narrow` keeps, at most `limit` in all: each statement reads
 * up to SCOPES_PER_STATEMENT scopes, each scope its share of what is left (so a statement never reads many times the
 * limit), and `handle` acts on the rows (each once: an account and one of its domains may both read a row) and
 * answers how many it changed. A scope that filled its share is read again after the others, as long as the rows
 * it gave were changed (they no longer match, so the next read finds new ones). Each scope is a range of
 * deliveries_user_queue_idx or, a domain's, deliveries_domain_queue_idx, never a walk of the table:
 * a release paged by id read every tenant's rows (600,000 for 2,000 held, measured). Answers how many were changed.
 */
async function eachHeldOfScopes(
  db: Db,
  scopes: SenderScope[],
  narrow: (q: Knex.QueryBuilder) => void,
  limit: number,
  handle: (rows: HeldRow[]) => Promise<number>,
): Promise<number> {
  const queue = [...scopes];
  let read = 0;
  let changed = 0;
  while (queue.length && read < limit) {
    const batch = queue.splice(0, SCOPES_PER_STATEMENT);
    const share = Math.min(PAGE, Math.max(1, Math.ceil((limit - read) / batch.length)));
    const reads = batch.map((scope) => {
      // Named on MySQL, as a walk's (queue-pages.ts): (status, held_by, held_at) would hold every tenant's such rows.
      const q = deliveriesAlong(db, queueIndexOf({ userId: scope.user_id, domainId: scope.domain_id }))
        .where(scope)
        .where(heldOff)
        .limit(share)
        .select(COLUMNS);
      narrow(q);
      return q;
    });
    const rows = [...new Map(((await unionOfReads(db, reads)) as HeldRow[]).map((r) => [Number(r.id), r])).values()];
    if (!rows.length) continue;
    read += rows.length;
    const moved = await handle(rows);
    changed += moved;
    if (!moved) continue;
    const inScope = (r: HeldRow, sc: SenderScope) => Number(r.user_id) === sc.user_id && (sc.domain_id === undefined || Number(r.domain_id) === sc.domain_id);
    for (const sc of batch) if (rows.filter((r) => inScope(r, sc)).length >= share) queue.push(sc);
  }
  return changed;
}

/**
 * The accounts and domains the two filters pick, as sender scopes (a domain's with its owner's user_id). Built with
 * from(), not db('sender_domains'): tests stand in for the worker's own domain read by catching the handle's first
 * call on that table (deadline-give-back), and the sweeper runs beside it.
 */
async function senders(
  db: Db,
  users: (q: Knex.QueryBuilder) => Knex.QueryBuilder,
  domains: (q: Knex.QueryBuilder) => Knex.QueryBuilder,
): Promise<SenderScope[]> {
  const userIds = (await users(db.from('users')).pluck('id')) as unknown[];
  const domainRows: { id: number; user_id: number }[] = await domains(db.from('sender_domains')).select('id', 'user_id');
  return [...userIds.map((id) => ({ user_id: Number(id) })), ...domainRows.map((d) => ({ user_id: Number(d.user_id), domain_id: Number(d.id) }))];
}

/** Releases (or fails, when past their time) rows whose sender is on, and enqueues the released; answers how many changed. */
async function releaseAndEnqueue(services: Services, rows: HeldRow[], now: number): Promise<number> {
  const { released, moved, failed } = await releaseRows(services, rows, now);
  await enqueueReleased(services, released, now);
  return moved + failed;
}

/**
 * Releases the held mail of an account or of one of its domains just switched on (what is past its time fails),
 * and enqueues it. Rows still off by the other switch (an enabled account's disabled domain) are not read. Returns
 * how many changed; what a failure here leaves held, the sweeper's repair releases (or, a day on, its expiry fails).
 */
export function releaseSwitchedOn(services: Services, scope: SenderScope, now = Date.now()): Promise<number> {
  const { db } = services;
  return eachHeldOfScopes(
    db,
    [scope],
    (q) => q.whereNot((w) => senderSwitchedOff(db, w)),
    Number.MAX_SAFE_INTEGER,
    (rows) => releaseAndEnqueue(services, rows, now),
  );
}

/**
 * The sweeper's expiry: held rows whose time has come fail. Mostly those of senders still switched off, driven by the
 * switched-off accounts and domains (few: a read of users and of sender_domains), their rows read along the index.
 * Then any row held longer than DELIVERY_MAX_AGE, whatever its sender's state, along deliveries_held_expiry_idx
 * (held_at): a row whose sender was switched on by a way that set no updated_at, or whose release was lost longer
 * ago than the repair looks, must not stay held for ever. At most `limit` per call; returns how many failed.
 */
export async function expireSwitchedOff(services: Services, now: number, limit = PAGE): Promise<number> {
  const { db, config } = services;
  const scopes = await senders(
    db,
    (u) => u.whereNot('account_status', 'Enabled'),
    (d) => d.where('status', STATUS.disabled),
  );
  let failed = await eachHeldOfScopes(
    db,
    scopes,
    (q) => q.where('next_attempt_at', '<=', now),
    limit,
    (rows) => failRows(services, rows, now),
  );
  if (failed < limit) {
    const stale: HeldRow[] = await db('deliveries')
      .where(heldOff)
      .where('held_at', '<=', now - config.deliveryMaxAgeSeconds * 1000)
      .where('next_attempt_at', '<=', now)
      .limit(limit - failed)
      .select(COLUMNS);
    if (stale.length) failed += await failRows(services, stale, now);
  }
  return failed;
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
  const scopes = await senders(
    db,
    (u) => u.where('account_status', 'Enabled').where('updated_at', '>=', since),
    (d) => d.whereNot('status', STATUS.disabled).where('updated_at', '>=', since),
  );
  return eachHeldOfScopes(
    db,
    scopes,
    (q) => q.whereNot((w) => senderSwitchedOff(db, w)),
    limit,
    (rows) => releaseAndEnqueue(services, rows, now),
  );
}
