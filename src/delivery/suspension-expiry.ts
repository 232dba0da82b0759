import type { Services } from '../command';
import { isMysql } from '../db';
import { STATUS } from '../domains/domains';
import { failedWithoutAttempt } from '../events/event-input';
import { recordEvents } from '../events/record';
import { SUSPENSION } from './held-by';

/** Rows per UPDATE and per transaction (bound parameter lists stay small, locks short). */
const CHUNK = 500;

/** `432000` → "5 days", `7200` → "2 hours", `1.5` → "1.5 seconds": the setting as a person would say it. */
export function spokenDuration(seconds: number): string {
  const units: [number, string][] = [
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, name] of units) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size} ${name}${seconds === size ? '' : 's'}`;
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

type Expiring = { id: number; message_id: string; user_id: number; domain_id: number; recipient: string; attempts: number; created_at: number };

/**
 * Deliveries held for their domain's suspension since longer than SUSPENSION_HOLD_MAX_SECONDS end `failed`, as one
 * past DELIVERY_MAX_AGE_SECONDS does: a suspension never lifted must not keep mail for ever, and a lift weeks later must
 * not send a stale password reset. Each gets a `failed` event through recordEvents (rollups, webhooks as any `failed`),
 * but no suppression and no bounce: the recipient did nothing wrong, and `failed` is not one of the outcomes the
 * reputation guard counts. At most `limit` per call (the next sweep takes the rest); returns how many failed.
 *
 * Found with a plain read and changed by primary key, as holdDomainQueue does (an UPDATE by status would lock the
 * status index's range on MySQL). The UPDATE checks the row is still held for a suspension and its domain still
 * Suspended (read under a shared lock), the lift's conditions reversed (releaseRows), so a lift racing the expiry
 * either wins or loses whole.
 */
export async function expireSuspensionHolds(services: Services, now: number, limit = 5000): Promise<number> {
  const { db, config } = services;
  const cutoff = now - config.suspensionHoldMaxSeconds * 1000;
  const reason = `sender domain suspended: held longer than ${spokenDuration(config.suspensionHoldMaxSeconds)}`;
  // Along deliveries_held_expiry_idx: only holds already past the limit are read (none in a suspension's first days).
  // A hold whose domain was lifted (an orphan, for the sweeper's repair) is passed by, so it never fills the limit.
  const rows: Expiring[] = await db('deliveries')
    .where({ status: 'held', held_by: SUSPENSION })
    .where('held_at', '<=', cutoff)
    // Scheduled mail is not late before its SendAt: its hold counts from then.
    .where((w) => w.whereNull('held_from').orWhereNot('held_from', 'scheduled').orWhere('next_attempt_at', '<=', cutoff))
    // Built in place, not with db('sender_domains'): tests stand in for the worker's own domain read by catching the
    // handle's first call on that table (deadline-give-back, lease-release), and the sweeper runs beside it.
    .whereExists(function () {
      this.select(db.raw('1')).from('sender_domains').whereRaw('sender_domains.id = deliveries.domain_id').where('status', STATUS.suspended);
    })
    .orderBy('held_at')
    .limit(limit)
    .select('id', 'message_id', 'user_id', 'domain_id', 'recipient', 'attempts', 'created_at');
  let failed = 0;
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    const ids = chunk.map((r) => Number(r.id));
    const mine = await db.transaction(async (trx) => {
      // The domains first, shared-locked, then their rows: the lift's order (it locks the domain, then releases its
      // rows), so the two wait for each other instead of deadlocking.
      const lock = trx('sender_domains')
        .whereIn('id', [...new Set(chunk.map((r) => Number(r.domain_id)))])
        .where('status', STATUS.suspended);
      const suspended = ((await (isMysql(trx) ? lock.forShare() : lock).pluck('id')) as unknown[]).map(Number);
      if (!suspended.length) return [];
      const moved = await trx('deliveries')
        .whereIn('id', ids)
        .whereIn('domain_id', suspended)
        .where({ status: 'held', held_by: SUSPENSION })
        .where('held_at', '<=', cutoff)
        .update({
          status: 'failed',
          last_reply: reason,
          bounce_class: null,
          finished_at: now,
          updated_at: now,
          lease_until: 0,
          held_from: null,
          held_at: null,
          held_by: null,
        });
      if (!moved) return [];
      let ours = chunk;
      if (moved < chunk.length) {
        // Some were lifted, cancelled or purged since the read: ours are the rows this UPDATE wrote (locked by it on MySQL).
        const got: { id: number }[] = await trx('deliveries').whereIn('id', ids).where({ status: 'failed', last_reply: reason, finished_at: now }).select('id');
        const gotIds = new Set(got.map((r) => Number(r.id)));
        ours = chunk.filter((r) => gotIds.has(Number(r.id)));
      }
      await recordEvents(
        trx,
        ours.map((r) =>
          failedWithoutAttempt(r, now, { seconds: Math.max(0, Math.round((now - Number(r.created_at)) / 1000)), smtp_reply: reason, suspension_expired: true }),
        ),
      );
      return ours;
    });
    for (const r of mine) services.metrics.delivery('failed', null, Number(r.created_at), now);
    failed += mine.length;
  }
  return failed;
}
