import type { Store } from '../store/store';
import { suppressedAmongShared } from '../suppression/suppressions';
import type { Leased } from './worker-ctx';

/**
 * How long after its acceptance a first attempt is sent on the strength of the accept's own suppression check. The
 * accept read the lists at most this long ago, so a lookup now would find only what a concurrent add at the accept
 * could have missed too. A fresh message is leased within milliseconds unless the queue is backed up, so most first
 * attempts skip the lookup; under a backlog older ones take it, coalesced with the others (one query per domain).
 */
export const FRESH_MS = 5_000;

/** Why a delivery found suppressed at its send was not sent (its `last_reply` and its `suppressed` event's `reason`). */
export const SUPPRESSED_REPLY = 'not sent: the recipient was added to the suppression list after this message was accepted';

/**
 * Whether the leased delivery's recipient is now on a suppression list a send from its domain must skip, checked as
 * the accept checks it (src/mail/accept.ts): campaigns against the lists alone, their list's PerList entries included
 * (its page read them: src/lists/api.ts eligibleMembers), other mail against the lists and the install's patterns; the
 * whitelist, as there, does not lift an entry. Asked only of deliveries the accept's check
 * may be stale for: a retry (attempts > 0), a scheduled send (its SendAt came later), anything accepted more than
 * FRESH_MS ago (released from a hold, put back, a backlog). A fresh first attempt, the hot path, is not asked: false.
 */
export async function suppressedSinceAccept(store: Store, d: Leased, now: number): Promise<boolean> {
  const stale = Number(d.attempts) > 0 || Number(d.send_at ?? 0) > 0 || now - Number(d.created_at) > FRESH_MS;
  if (!stale) return false;
  // A campaign's message (campaign_status is read with the lease): lists only, as its accept did, and its list's own
  // entries: an unsubscribe from the list after its page was read must stop the copies not sent yet.
  const campaign = d.campaign_status !== null;
  const listId = campaign && d.list_id ? Number(d.list_id) : undefined;
  const found = await suppressedAmongShared(store, Number(d.domain_id), [d.recipient], { patterns: !campaign, listId });
  return found.has(d.recipient.toLowerCase());
}
