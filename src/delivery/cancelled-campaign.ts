import type { Db } from '../db';
import { cancelledUnsent } from '../events/event-input';
import { recordEvents } from '../events/record';
import type { Leased } from './worker-ctx';

/**
 * A leased delivery whose campaign was cancelled after it was queued: cancelled as campaign.cancel's pass cancels
 * one (cancelDeliveries: status, finished_at, the `cancelled` event), with no attempt counted. The pass skips rows
 * leased at that moment, and a worker can put a leased row back to wait (a throttle refusal, a 4xx, a released
 * attempt, a hold), so each lease checks the campaign (lease-settle.ts reads its status). False when the lease was
 * no longer this attempt's: its new holder decides.
 */
export async function cancelLeased(db: Db, owner: string, d: Leased): Promise<boolean> {
  const now = Date.now();
  return db.transaction(async (trx) => {
    const moved = await trx('deliveries')
      .where({ id: d.id, lease_owner: owner, lease_until: d.lease_until })
      .update({ status: 'cancelled', finished_at: now, updated_at: now, lease_until: 0, held_from: null, held_at: null, held_by: null });
    if (!moved) return false;
    await recordEvents(trx, [cancelledUnsent(d, now)]);
    return true;
  });
}
