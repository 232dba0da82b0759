import type { Services } from '../command';
import { listExists, subscribedMembers, SubscriberContext } from '../lists/api';
import { acceptMessages, QUOTA_PROBLEM } from './accept';
import { Accepted, contentOf, refusedForEveryone, resolveRefs, Sender, SendRefs } from './prepare';
import { storedSizeOf } from './stored-content';
import type { CommitStatement } from '../idempotency/keys';
import { isOutage } from '../outage';
import type { Problem, SendRequest } from './send-request';

/** Members per page, as upstream: the default send takes the first page only. */
export const LIST_PAGE = 250;

/**
 * Members per page: each message stores its own copy of the content, so 250 members of 16 MiB of HTML made a page of
 * about 4 GiB (beyond a process's heap, on every worker that took the campaign over). A page holds at most
 * LIST_PAGE_BYTES of stored messages, and at least one member.
 */
export function membersPerPage(services: Services, req: SendRequest, refs: SendRefs): number {
  const size = storedSizeOf({ ...contentOf(req, refs).content, attachments: req.attachments });
  return Math.max(1, Math.min(LIST_PAGE, Math.floor(services.config.listPageBytes / size)));
}

export type ListSendResult = { ok: true; messageIds: string[] } | { ok: false; problems: Problem[]; status?: number };

function displayName(s: SubscriberContext): string {
  return [s.fields.FirstName, s.fields.LastName]
    .filter((x) => x && x.trim())
    .join(' ')
    .replace(/[\r\n]/g, ' ')
    .slice(0, 200);
}

/**
 * A TargetListID send: one message per subscribed, unsuppressed member, each personalised with that member,
 * one MessageID per recipient. By default the first 250 members ordered by email (upstream's behaviour);
 * SENDEMAIL_FULL_LIST=1 pages through the whole list by SubscriberID, 250 at a time, each page committed on its
 * own. Large content makes the transactions smaller (membersPerPage): the same members, in more of them. A failure
 * to read the list answers 39 (HTTP 502). If the quota runs out after some pages were accepted, the pages already
 * accepted stand and their ids are returned.
 */
export async function acceptListSend(
  services: Services,
  sender: Sender,
  req: SendRequest,
  reply?: (ids: string[], how?: { partial?: boolean }) => CommitStatement,
): Promise<ListSendResult> {
  const listId = req.targetListId!;
  const { refs, problems } = await resolveRefs(services, sender, { ...req, listId: undefined, subscriberId: undefined });
  if (!(await listExists(services.db, sender.user.id, listId))) problems.push({ code: 16, message: `Invalid TargetListID: ${listId} does not exist` });
  else if (req.to.length || req.cc.length || req.bcc.length) problems.push({ code: 16, message: 'TargetListID sends to the list: leave To, CC and BCC empty' });
  if (problems.length) return { ok: false, problems };

  const ids: string[] = [];
  let skipped: Problem[] | undefined;
  const perPage = membersPerPage(services, req, refs);
  let afterId = 0;
  for (;;) {
    let members: SubscriberContext[];
    try {
      members = services.config.sendEmailFullList
        ? await subscribedMembers(services.db, listId, sender.domain.id, { order: 'id', limit: LIST_PAGE, afterId })
        : await subscribedMembers(services.db, listId, sender.domain.id, { order: 'email', limit: LIST_PAGE });
    } catch (err) {
      if (isOutage(err)) throw err; // the database is away: 503 like every other request, not a list problem
      services.logger.error('list recipients could not be resolved', { listId, error: (err as Error).message });
      return { ok: false, problems: [{ code: 39, message: `Recipients of list ${listId} could not be resolved; nothing was sent` }], status: 502 };
    }
    if (!members.length) break;
    const more = services.config.sendEmailFullList && members.length === LIST_PAGE;
    // The members read are written perPage at a time, each part in its own transaction (same members, same order).
    for (let at = 0; at < members.length; at += perPage) {
      // With an Idempotency-Key each part commits the reply so far: a retry after a crash replays what was sent. A
      // part that may not be the last is partial: until the send ends, a concurrent retry waits instead of being
      // replayed the ids so far. (A last page that comes out empty commits nothing: the door stores the answer.)
      const partial = more || at + perPage < members.length;
      const replySoFar = reply && ((a: Accepted[]) => reply([...ids, ...a.flatMap((x) => (x.ok ? [x.messageId] : []))], { partial }));
      const page = await sendToMembers(services, sender, req, refs, members.slice(at, at + perPage), replySoFar);
      if (!page.ok) {
        // Sender-level problems (account, domain, From, content, quota) fail every message alike.
        if (ids.length && page.problems.some((p) => p.code === QUOTA_PROBLEM.code)) {
          services.logger.warn('list send stopped at the sending limit', { listId, accepted: ids.length });
          return { ok: true, messageIds: ids };
        }
        // A part whose members were all refused for reasons of their own (suppressed since they were read) is skipped,
        // as one refused member among others always was: failing here answered an error for a send whose earlier
        // parts were committed, and dropped the later ones.
        const everyone = page.problems.some((p) => p.code === QUOTA_PROBLEM.code) ? page.problems : await refusedForEveryone(services, sender, req, refs);
        if (everyone.length) return { ok: false, problems: everyone };
        services.logger.warn('list members refused one by one; skipped', {
          listId,
          skipped: members.slice(at, at + perPage).length,
          reason: page.problems[0]?.message,
        });
        skipped ??= page.problems;
        continue;
      }
      ids.push(...page.messageIds);
    }
    if (!more) break;
    afterId = members[members.length - 1].id;
  }
  // Nothing accepted and a part skipped: every member was refused one by one; say why, as a one-page list always did.
  if (!ids.length && skipped) return { ok: false, problems: skipped };
  return { ok: true, messageIds: ids };
}

/**
 * One page of a list send: one message per member, personalised with that member, addressed to them by name.
 * Answers the accepted MessageIDs, or the problems when every message failed alike (sender-level problems).
 */
export async function sendToMembers(
  services: Services,
  sender: Sender,
  req: SendRequest,
  refs: SendRefs,
  members: SubscriberContext[],
  reply?: (accepted: Accepted[]) => CommitStatement | undefined,
): Promise<ListSendResult> {
  const reqs = members.map((m) => ({ ...req, to: [{ name: displayName(m), email: m.email }], listId: m.listId, subscriberId: m.id }));
  const accepted = await acceptMessages(
    services,
    sender,
    reqs,
    members.map((m) => ({ ...refs, subscriber: m, listSend: true })),
    reply,
  );
  const failed = accepted.find((a) => !a.ok);
  if (failed && !failed.ok && accepted.every((a) => !a.ok)) return { ok: false, problems: failed.problems };
  return { ok: true, messageIds: accepted.flatMap((a) => (a.ok ? [a.messageId] : [])) };
}
