/**
 * One request under an Idempotency-Key, for a door that shapes its own replies (the platform's send routes): claim the
 * key, run the request with its reply stored in the transaction of its messages, then keep or free the key. The
 * same steps as Octeth's v1 door (src/v1/router.ts `idempotent`), over the same store (keys.ts), so a key behaves
 * alike at every door: same request → the first reply again; another request → a conflict; still running → busy.
 */
import type { Knex } from 'knex';
import type { CommandContext } from '../command';
import { claimKey, ClaimOptions, IdempotencySuperseded, StoredReply } from './keys';

type ReplyStatement = NonNullable<CommandContext['idempotentReply']>;

/** What the door answered this time: its reply, whether the command failed, and whether a retry may be answered otherwise. */
export interface Attempt {
  reply: StoredReply;
  /** The command failed: a reply statement it built was not committed. */
  failed: boolean;
  /** False for an answer a retry may change (src/idempotency/remembered.ts): the key is freed for it. */
  remembered: boolean;
}

export type Keyed =
  { kind: 'ran'; reply: StoredReply } | { kind: 'replay'; reply: StoredReply } | { kind: 'mismatch' } | { kind: 'busy'; retryAfterSec: number };

/**
 * Runs `attempt` once per key. `shape` turns the command's success result into the reply to store (what a replay
 * answers); `attempt` gets the statement maker to pass to the command as `idempotentReply`. An exception from
 * `attempt` (an outage) frees the key if nothing was committed, without waiting, and is thrown on.
 */
export async function runOnce(
  db: Knex,
  claimOptions: ClaimOptions,
  shape: (result: Record<string, unknown>) => StoredReply,
  attempt: (idempotentReply: ReplyStatement) => Promise<Attempt>,
): Promise<Keyed> {
  const claim = await claimKey(db, claimOptions);
  if (claim.kind !== 'fresh') return claim;
  const { lease } = claim;
  let committed = false;
  let done: Attempt;
  try {
    done = await attempt((result, how) => (q) => {
      if (!how?.partial) committed = true;
      return lease.commitStatement(q, shape(result), how);
    });
  } catch (err) {
    // A retry took the key over while this request waited: it committed nothing, and the retry answers.
    if (err instanceof IdempotencySuperseded) return { kind: 'busy', retryAfterSec: 1 };
    lease.release().catch(() => undefined);
    throw err;
  }
  if (!done.remembered && (await lease.release())) return { kind: 'ran', reply: done.reply };
  // A success was stored with its messages; anything else (a failure, a reply committed only in part) is stored now.
  if (!(committed && done.reply.status < 300 && !done.failed)) await lease.finish(done.reply);
  return { kind: 'ran', reply: done.reply };
}
