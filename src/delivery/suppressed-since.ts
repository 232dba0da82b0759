import type { Store } from '../store/store';
import { notSubscribedAmongShared } from '../lists/members-now';
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

/** Why a campaign copy whose recipient left the campaign's list (unsubscribed, deleted) since its page was not sent. */
export const LEFT_LIST_REPLY =
  "not sent: the recipient is no longer a subscribed member of the campaign's list (unsubscribed or removed after this message was accepted)";

/** Why a list send's (TargetListID) copy whose recipient left the list since its accept was not sent. */
export const LEFT_TARGET_LIST_REPLY =
  'not sent: the recipient is no longer a subscribed member of the list it was sent to (unsubscribed or removed after this message was accepted)';

/**
 * Why the leased delivery must not be sent now, or null. Its recipient is on a suppression list a send from its domain
 * must skip, checked as the accept checks it (src/mail/accept.ts): campaigns against the lists alone, their list's
 * PerList entries included, other mail against the lists and the install's patterns; the whitelist, as there, does not
 * lift an entry. A campaign's copy, and a list send's (TargetListID, src/mail/list-send.ts), is also checked against
 * its list's PerList entries and stopped when its recipient is no longer a `Subscribed` member of the list
 * (unsubscribed through subscriber.unsubscribe or a list webhook, pending opt-in again, deleted from the list, the list
 * deleted): its accept picked members by that rule (src/lists/api.ts eligibleMembers), and those doors write no
 * suppression entry. A send that only names a ListID (to personalise, to any address) is checked as other mail: its
 * accept asks neither. Asked only of deliveries the accept's check may be stale for: a retry
 * (attempts > 0), a scheduled send (its SendAt came later), anything accepted more than FRESH_MS ago (released from a
 * hold, put back, a backlog). A fresh first attempt, the hot path, is not asked: null.
 */
export async function suppressedSinceAccept(store: Store, d: Leased, now: number): Promise<string | null> {
  const stale = Number(d.attempts) > 0 || Number(d.send_at ?? 0) > 0 || now - Number(d.created_at) > FRESH_MS;
  if (!stale) return null;
  // A campaign's message (campaign_status is read with the lease): lists only, as its accept did. A campaign's or a
  // list send's: its list's own entries and members too, as its accept read them: an unsubscribe from the list after
  // the accept must stop the copies not sent yet.
  const campaign = d.campaign_status !== null;
  const listId = (campaign || Number(d.list_send) > 0) && d.list_id ? Number(d.list_id) : undefined;
  const [found, gone] = await Promise.all([
    suppressedAmongShared(store, Number(d.domain_id), [d.recipient], { patterns: !campaign, listId }),
    listId ? notSubscribedAmongShared(store, listId, [d.recipient]) : undefined,
  ]);
  const email = d.recipient.toLowerCase();
  if (found.has(email)) return SUPPRESSED_REPLY;
  if (!gone?.has(email)) return null;
  return campaign ? LEFT_LIST_REPLY : LEFT_TARGET_LIST_REPLY;
}
