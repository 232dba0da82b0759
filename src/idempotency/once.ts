/**
 * One request under an Idempotency-Key, for a door that shapes its own replies (Octeth's v1 send routes, the
 * platform's): claim the key, run the request with its reply stored in the transaction of its messages, then keep or
 * free the key. Every door runs these steps over the same store (keys.ts), so a key behaves alike at each: same
 * request → the first reply again; another request → a conflict; still running → busy. What a door adds is its own:
 * the credential the key is scoped by, and how it words the replay, the conflict and busy.
 */
import type { Knex } from 'knex';
import type { CommandContext } from '../command';
import { claimKey, ClaimOptions, IdempotencySuperseded, StoredReply } from './keys';

type ReplyStatement = NonNullable<CommandContext['idempotentReply']>;

/**
 * What the door answered this time: its reply, whether the command failed, and whether a retry may be answered
 * otherwise. The reply may carry more than the store keeps (its status and body), such as headers: it comes back as
 * it is in `ran`.
 */
export interface Attempt<R extends StoredReply = StoredReply> {
  reply: R;
  /** The command failed: a reply statement it built was not committed. */
  failed: boolean;
  /** False for an answer a retry may change (src/idempotency/remembered.ts): the key is freed for it. */
  remembered: boolean;
}

export type Keyed<R extends StoredReply = StoredReply> =
  { kind: 'ran'; reply: R } | { kind: 'replay'; reply: StoredReply } | { kind: 'mismatch' } | { kind: 'busy'; retryAfterSec: number };

/**
 * Runs `attempt` once per key. `shape` turns the command's success result into the reply to store (what a replay
 * answers); `attempt` gets the statement maker to pass to the command as `idempotentReply`. An exception from
 * `attempt` (an outage) frees the key if nothing was committed, without waiting, and is thrown on.
 */
export async function runOnce<R extends StoredReply>(
  db: Knex,
  claimOptions: ClaimOptions,
  shape: (result: Record<string, unknown>) => StoredReply,
  attempt: (idempotentReply: ReplyStatement) => Promise<Attempt<R>>,
): Promise<Keyed<R>> {
  const claim = await claimKey(db, claimOptions);
  if (claim.kind !== 'fresh') return claim;
  const { lease } = claim;
  let committed = false;
  let done: Attempt<R>;
  try {
    done = await attempt((result, how) => (q) => {
      if (!how?.partial) committed = true;
      return lease.commitStatement(q, shape(result), how);
    });
  } catch (err) {
    // A retry took the key over while this request waited: it committed nothing, and the retry answers.
    if (err instanceof IdempotencySuperseded) return { kind: 'busy', retryAfterSec: 1 };
    // Nothing committed (or, after a lost connection, perhaps the reply with it): free the key if we still can.
    // Not awaited: during an outage it would hold the 503 for another timeout; the lease expires anyway.
    lease.release().catch(() => undefined);
    throw err;
  }
  // An answer a retry may change (rate limit, quota, the account's state, a 5xx) frees the key, so the same request
  // can be sent again under it; release() frees nothing once messages were committed under the key.
  if (!done.remembered && (await lease.release())) return { kind: 'ran', reply: done.reply };
  // A success was stored with its messages (one round trip less, and nothing more to wait for in an outage). A command
  // that built its reply statement and then failed committed nothing: its accept group rolled back (a recipient found
  // suppressed there, src/mail/accept-group.ts) and it answered an error instead. One that committed only partial
  // replies (a batch whose last group wrote nothing) stores its final reply here, as does any other failure.
  if (!(committed && done.reply.status < 300 && !done.failed)) await lease.finish({ status: done.reply.status, body: done.reply.body });
  return { kind: 'ran', reply: done.reply };
}
