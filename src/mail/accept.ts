import type { Services } from '../command';
import type { CommitStatement } from '../idempotency/keys';
import { patternSuppressedAmong, suppressedAmong, suppressedAmongShared } from '../suppression/suppressions';
import type { Problem, SendRequest } from './send-request';
import { Accepted, prepare, Prepared, recipientsOf, resolveRefs, Sender, SendRefs, TemplateLookups } from './prepare';
import { GROUP_COMMIT_RECIPIENTS, persistItem } from './accept-group';

// The API send path (API sends, list sends, campaigns; the SMTP front's raw messages go through accept-raw.ts):
// each request prepared (src/mail/prepare.ts), then persisted in a group commit (src/mail/accept-group.ts).

export const QUOTA_PROBLEM: Problem = { code: 17, message: 'Email sending limit reached: the daily or monthly quota of this account is used up' };

/**
 * Accepts API requests: validates each against the sender's state, prepares it (its content stored; the worker composes
 * the MIME at delivery) and persists the accepted ones together. Suppressed recipients among others are dropped;
 * all suppressed → code 14.
 */
export async function acceptMessages(
  services: Services,
  sender: Sender,
  reqs: SendRequest[],
  given?: SendRefs[],
  /** The idempotent reply for these results, committed with the messages (see CommandContext.idempotentReply). */
  reply?: (accepted: Accepted[]) => CommitStatement | undefined,
): Promise<Accepted[]> {
  const now = Date.now();
  const templates: TemplateLookups = new Map();
  const resolved = given
    ? given.map((refs) => ({ refs, problems: [] as Problem[] }))
    : await Promise.all(reqs.map((r) => resolveRefs(services, sender, r, templates)));
  // Suppression patterns apply to gateway sends, not to campaigns (as upstream).
  const campaign = !!given?.length && given.every((r) => r.campaignId !== undefined);
  const emails = reqs.flatMap((r) => recipientsOf(r).map((x) => x.email));
  // A submission small enough for the group commit has its recipients checked against the lists in the group's own
  // transaction (PersistItem.check): no lookup of its own before it. Others read the lists first, in one lookup for
  // every recipient of every message (gateway sends made at the same time share it).
  const inGroup = !campaign && emails.length <= GROUP_COMMIT_RECIPIENTS;
  const suppressed = campaign
    ? await suppressedAmong(services.store, sender.domain.id, emails, { patterns: false })
    : inGroup
      ? await patternSuppressedAmong(services.store, emails)
      : await suppressedAmongShared(services.store, sender.domain.id, emails);
  return acceptPrepared(services, sender, reqs, resolved, now, suppressed, inGroup, reply);
}

/** Prepares the requests without the `suppressed` recipients and persists them; again, without those listed, when the group's check found some. */
async function acceptPrepared(
  services: Services,
  sender: Sender,
  reqs: SendRequest[],
  resolved: { refs: SendRefs; problems: Problem[] }[],
  now: number,
  suppressed: Set<string>,
  check: boolean,
  reply?: (accepted: Accepted[]) => CommitStatement | undefined,
): Promise<Accepted[]> {
  const trackIds = () => services.store.trackIds.next();
  const prepared = await Promise.all(
    reqs.map((r, i) => (resolved[i].problems.length ? resolved[i].problems : prepare(services, sender, r, resolved[i].refs, now, suppressed, trackIds))),
  );
  const ok = prepared.filter((p): p is Prepared => !Array.isArray(p));
  const accepted: Accepted[] = prepared.map((p) => (Array.isArray(p) ? { ok: false, problems: p } : { ok: true, messageId: p.messageId }));
  if (!ok.length) return accepted;
  const toCheck = check ? [...new Set(ok.flatMap((p) => p.recipients.map((r) => r.email.toLowerCase())))] : undefined;
  const outcome = await persistItem({ services, sender, ok, now, reply: reply?.(accepted), check: toCheck });
  if (typeof outcome === 'object') return acceptPrepared(services, sender, reqs, resolved, now, new Set([...suppressed, ...outcome.suppressed]), false, reply);
  if (outcome === 'quota') return prepared.map((p) => ({ ok: false as const, problems: Array.isArray(p) ? p : [QUOTA_PROBLEM] }));
  return accepted;
}
