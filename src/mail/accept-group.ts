import crypto from 'node:crypto';
import { Coalescer } from '../coalesce';
import { isOutage } from '../outage';
import { affectedRows, BatchTx, isMysql, Stmt } from '../db';
import { CommitStatement, IdempotencySuperseded, leaseHeldCheck } from '../idempotency/keys';
import type { CommandContext, Services } from '../command';
import { isCheckFailure, suppressedAmong, suppressionGuards } from '../suppression/suppressions';
import { reserveQuota } from './quota';
import type { Reservation } from './quota-refunds';
import { enqueueDeliveries } from '../delivery/enqueue';
import { encodePending, enqueueExpansion, insertPending, PendingEntry } from './pending-batches';
import type { Prepared, Sender } from './prepare';
import { GuardLost, writePrepared } from './write-prepared';

interface PersistItem {
  services: Services;
  sender: Sender;
  ok: Prepared[];
  now: number;
  /** The request's idempotent reply, committed with its rows (refused when a retry took its key over). */
  reply?: CommitStatement;
  /**
   * Recipients (lowercase) not yet checked against the sender domain's suppression lists: the group's transaction
   * checks them (suppressionGuards) and writes nothing for the item if one is listed.
   */
  check?: string[];
}

/** The item's recipients found on a suppression list (lowercase): nothing was written; the caller prepares again. */
type Suppressed = { suppressed: Set<string> };

export type Persisted = 'accepted' | 'quota' | 'superseded' | Suppressed;

/**
 * Raised when a check statement failed the group's round trip (so it rolled back): a suppression guard found a
 * listed recipient, or an Idempotency-Key lease was taken over (keys.ts leaseHeldCheck). Which one is not known:
 * the group goes again carefully (settleChecks).
 */
class CheckFailed extends Error {
  constructor() {
    super('a check statement of the group failed');
  }
}

/** Raised inside the transaction (so it rolls back) when some items' Idempotency-Key leases were taken over. */
class LeaseLost extends Error {
  constructor(readonly items: PersistItem[]) {
    super('idempotency lease lost');
  }
}

/**
 * Persists a group of submissions in one transaction: quota first (per user, for the group's total; one by
 * one if the total would pass a limit, so earlier submissions still go), then the rows, then the queue.
 * Resolves one boolean per submission: false when its user's quota would be passed (nothing written for it).
 */
async function persistGroup(items: PersistItem[], pending?: Buffer, careful = false): Promise<Persisted[]> {
  // Embedded: no round trip to save, so the lists are read first.
  if (items.some((it) => it.check) && !isMysql(items[0].services.db)) return settleChecks(items, pending);
  try {
    return await persistOnce(items, pending, careful);
  } catch (err) {
    if (err instanceof CheckFailed) return settleChecks(items, pending);
    if (!(err instanceof LeaseLost)) throw err;
    // Rolled back, quota returned: the others go again without the superseded ones.
    const lost = new Set(err.items);
    const rest = items.filter((it) => !lost.has(it));
    const done = rest.length ? await persistGroup(rest, pending) : [];
    return items.map((it) => (lost.has(it) ? 'superseded' : done[rest.indexOf(it)]));
  }
}

/**
 * Reads the suppression lists for the items not yet checked (one query per domain): an item with a listed recipient
 * goes back to its caller (Suppressed), the others are written, now checked, with their leases checked one by one
 * (a lost one is found and only its item superseded). New entries made meanwhile are missed as they were when every
 * send read the lists before its group.
 */
async function settleChecks(items: PersistItem[], pending?: Buffer): Promise<Persisted[]> {
  const { services } = items[0];
  const byDomain = new Map<number, string[]>();
  for (const it of items) {
    if (!it.check) continue;
    const list = byDomain.get(it.sender.domain.id);
    if (list) list.push(...it.check);
    else byDomain.set(it.sender.domain.id, [...it.check]);
  }
  const listed = new Map<number, Set<string>>();
  for (const [domain, emails] of byDomain) listed.set(domain, await suppressedAmong(services.store, domain, emails, { patterns: false }));
  const found = items.map((it) => new Set((it.check ?? []).filter((e) => listed.get(it.sender.domain.id)!.has(e))));
  const clean = items.filter((_, i) => !found[i].size);
  for (const it of clean) it.check = undefined;
  const done = clean.length ? await persistGroup(clean, pending, true) : [];
  return items.map((it, i) => (found[i].size ? { suppressed: found[i] } : done[clean.indexOf(it)]));
}

/** One try at a group; `careful`: each Idempotency-Key lease checked by its UPDATE's row count (a second round trip). */
async function persistOnce(items: PersistItem[], pending?: Buffer, careful = false): Promise<Persisted[]> {
  const { services } = items[0];
  const accepted = new Array<boolean>(items.length).fill(false);
  const undos: Reservation[] = [];
  // What the transaction writes, to ask before a refund whether its COMMIT landed after all.
  let pendingId: string | undefined;
  let messageIds: string[] = [];
  const byUser = new Map<number, number[]>();
  items.forEach((it, i) => {
    const list = byUser.get(it.sender.user.id);
    if (list) list.push(i);
    else byUser.set(it.sender.user.id, [i]);
  });
  const count = (i: number) => items[i].ok.reduce((n, p) => n + p.recipients.length, 0);
  try {
    for (const idx of byUser.values()) {
      const first = items[idx[0]];
      const together =
        idx.length > 1
          ? await reserveQuota(
              services.db,
              first.sender.user,
              idx.reduce((n, i) => n + count(i), 0),
              first.now,
              services.refunds,
            )
          : null;
      if (together) {
        undos.push(together);
        for (const i of idx) accepted[i] = true;
        continue;
      }
      for (const i of idx) {
        const undo = await reserveQuota(services.db, items[i].sender.user, count(i), items[i].now, services.refunds);
        if (undo) {
          undos.push(undo);
          accepted[i] = true;
        }
      }
    }
    const outcome = accepted.map((a): Persisted => (a ? 'accepted' : 'quota'));
    pendingId = pending ? crypto.randomUUID() : undefined;
    messageIds = items.filter((_, i) => accepted[i]).flatMap((it) => it.ok.map((p) => p.messageId));
    const going = items.filter((_, i) => accepted[i]);
    if (!going.length) return outcome;
    const entries = going.flatMap((it) => it.ok.map((p) => ({ p, now: it.now })));
    if (pending) {
      await stashPending(going[0], entries, pending, pendingId!);
      return outcome;
    }
    const runAt = new Map(entries.map((e) => [e.p.messageId, (e.p.message.send_at as number | null) ?? e.now]));
    const guarded = going.filter((it) => it.reply);
    const written = (
      await services.store
        .batchTransaction((tx) => {
          // First in the transaction's round trip: a listed recipient fails it before any row is written.
          tx.later(suppressionChecks(tx.q, going));
          return writePrepared(
            tx,
            entries,
            guarded.map((it) => it.reply!(tx.q)),
            careful ? undefined : () => leaseHeldCheck(tx.q),
          );
        })
        .catch((err) => {
          if (isCheckFailure(err)) throw new CheckFailed();
          throw err instanceof GuardLost ? new LeaseLost(err.indexes.map((i) => guarded[i])) : err;
        })
    ).map((d) => ({ id: d.id, messageId: d.messageId, runAt: runAt.get(d.messageId)! }));
    // Committed is accepted: callers get their answer now and the queue hears of the rows meanwhile (one round
    // trip fewer per group on the SMTP front's critical path). A lost enqueue is the sweeper's to recover.
    enqueueDeliveries(
      services,
      written.map((d) => ({ id: d.id, attempts: 0, runAt: d.runAt })),
    ).catch((err) => services.logger.warn('enqueue failed; the sweeper will pick the deliveries up', { error: (err as Error).message }));
    return outcome;
  } catch (err) {
    // Both for a pending batch: its row is gone once expanded, its messages are not (quota-refunds.ts wasWritten).
    const mark = pendingId || messageIds.length ? { pendingId, messageId: messageIds[0] } : undefined;
    const refunds = undos.map((u) => services.refunds.refund(u, mark));
    // Through an outage a refund waits as long as the store does: the caller's answer (its 503, its 451) does not.
    // Otherwise (a check failed, a lease lost) the group goes again at once and must find its quota given back.
    if (!isOutage(err)) await Promise.all(refunds);
    throw err;
  }
}

/** The suppression guards for the items' unchecked recipients, per sender domain. */
function suppressionChecks(q: BatchTx['q'], items: PersistItem[]): Stmt[] {
  const byDomain = new Map<number, Set<string>>();
  for (const it of items) {
    if (!it.check) continue;
    const set = byDomain.get(it.sender.domain.id) ?? new Set<string>();
    for (const e of it.check) set.add(e);
    byDomain.set(it.sender.domain.id, set);
  }
  return [...byDomain].flatMap(([domain, emails]) => suppressionGuards(q, domain, [...emails]));
}

/**
 * One submission's prepared messages as one pending_batches row (src/mail/pending-batches.ts), committed with its
 * idempotent reply, then one job that names the row. A lost job is the sweeper's to recover, as for deliveries.
 */
async function stashPending(item: PersistItem, entries: PendingEntry[], payload: Buffer, id: string): Promise<void> {
  const { services } = item;
  await services.store.batchTransaction(async (tx) => {
    const row = insertPending(tx.q, { id, userId: item.sender.user.id, domainId: item.sender.domain.id, entries, payload, now: item.now });
    if (!item.reply) return void tx.later([row]);
    const [replied] = await tx.run([item.reply(tx.q), row]);
    if (affectedRows(replied) !== 1) throw new LeaseLost([item]);
  });
  enqueueExpansion(services, id).catch((err) =>
    services.logger.warn('enqueue failed; the sweeper will expand the batch', { batch: id, error: (err as Error).message }),
  );
}

/** Submissions with at most this many recipients share transactions with concurrent ones (group commit). */
export const GROUP_COMMIT_RECIPIENTS = 50;

/** Accept group commits in flight at once (see persistItem); the api opens as many batch connections at start. */
const ACCEPT_GROUPS_IN_FLIGHT = 2;

/** Opens the batch connections the accept group commits use, so the first sends after start-up do not wait for them. */
export function warmAcceptGroups(services: Pick<Services, 'store'>): Promise<void> {
  return services.store.warm(ACCEPT_GROUPS_IN_FLIGHT);
}

/** How the group commit of these services has grouped so far (for tests and diagnostics). */
export function groupCommitStats(services: Pick<Services, 'store'>): { flushes: number; items: number } {
  return services.store.batchers.stats('accept');
}

/**
 * Writes prepared messages with one delivery per recipient and a `queued` (or `scheduled`) event per delivery
 * (plus a `suppressed` event per dropped recipient) in one transaction, after reserving the sending quota,
 * then enqueues the deliveries. Resolves false, writing nothing, when the quota would be passed.
 *
 * Small submissions made at the same time (single API sends, SMTP messages from many sessions) are written
 * together: one transaction, one commit, one enqueue for the group; each caller still gets its own answer
 * only once its rows are committed.
 */
export async function persistPrepared(services: Services, sender: Sender, ok: Prepared[], now: number, reply?: CommitStatement): Promise<boolean> {
  return (await persistItem({ services, sender, ok, now, reply })) === 'accepted';
}

/** persistPrepared's work; with `check` it may also answer Suppressed (see PersistItem.check). */
export async function persistItem(item: PersistItem): Promise<Persisted> {
  const { services, sender, ok } = item;
  const recipients = ok.reduce((n, p) => n + p.recipients.length, 0);
  // Two groups in flight: sends that arrive while one group commits start the next at once instead of waiting a
  // whole flush (~10 ms at 50 connections), and a group held up by a lock (an account's quota row) or a slow
  // statement no longer holds up, or fails with its 503, every other account's sends queued behind it. The smtp
  // role starts the second only after GROUP_COMMIT_OVERLAP_MS: larger groups cost it less per message.
  const c = services.store.batchers.get(
    'accept',
    () =>
      new Coalescer<PersistItem, Persisted>(persistGroup, {
        name: 'accept',
        maxItems: 100,
        maxInFlight: ACCEPT_GROUPS_IN_FLIGHT,
        overlapAfterMs: services.store.groupOverlapMs,
        gatherMs: services.store.groupGatherMs,
        observe: services.metrics.groupSize('accept'),
      }),
  );
  // A big submission is accepted as one row that the worker expands (unless too big for a row, or a campaign's).
  const pending = recipients > GROUP_COMMIT_RECIPIENTS ? encodePending(ok.map((p) => ({ p, now: item.now }))) : null;
  const outcome = recipients > GROUP_COMMIT_RECIPIENTS ? (await persistGroup([item], pending ?? undefined))[0] : await c.submit(item);
  if (outcome === 'superseded') throw new IdempotencySuperseded();
  // The door a command came through rides on its context; the SMTP front calls in with plain services.
  if (outcome === 'accepted') services.metrics.accepted((services as Partial<CommandContext>).door ?? sender.source, ok.length);
  return outcome;
}
