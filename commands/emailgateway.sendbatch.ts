/**
 * emailgateway.sendbatch (POST /api/v1/email/batch) — up to 1,000 messages, each validated on its own; the
 * accepted ones are written in one transaction (one per From domain with an account key) and enqueued together.
 * Errors: 45 Messages missing or over 1,000.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { acceptMessages, Sender } from '../src/mail/accept';
import { senderFor } from '../src/mail/sender-for';
import { parseSendRequest, SendRequest } from '../src/mail/send-request';
import { SEND_ERRORS, SEND_HTTP_STATUS } from '../src/mail/send-codes';

export default defineCommand({
  name: 'emailgateway.sendbatch',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  accountKey: 'can_send',
  errors: SEND_ERRORS,
  httpStatus: SEND_HTTP_STATUS,
  async run(p, ctx) {
    const messages = p.messages;
    if (!Array.isArray(messages) || messages.length === 0 || messages.length > 1000) throw new CommandError(45);
    const now = Date.now();
    const parsed = messages.map((m) => parseSendRequest((m ?? {}) as Record<string, unknown>, { maxAttachmentBytes: ctx.config.maxAttachmentBytes, now }));
    for (const x of parsed) {
      if (x.req.targetListId !== undefined) x.problems.push({ code: 16, message: 'TargetListID is not accepted in a batch: send list mail through /api/v1/email' });
    }
    const valid = parsed.map((x, i) => ({ i, x })).filter(({ x }) => !x.problems.length);
    const results: Record<string, unknown>[] = parsed.map((x) => ({ Errors: x.problems.map((e) => ({ Code: e.code, Message: e.message })) }));
    // A sender key sends everything from its domain; an account key from each message's From domain.
    const groups = new Map<number, { sender: Sender; items: { i: number; req: SendRequest }[] }>();
    for (const { i, x } of valid) {
      const who = await senderFor(ctx, x.req.from.email);
      if (!who.ok) {
        results[i] = { Errors: [{ Code: who.problem.code, Message: who.problem.message }] };
        continue;
      }
      const g = groups.get(Number(who.sender.domain.id)) ?? { sender: who.sender, items: [] };
      g.items.push({ i, req: x.req });
      groups.set(Number(who.sender.domain.id), g);
    }
    for (const g of groups.values()) {
      const accepted = await acceptMessages(ctx, g.sender, g.items.map((it) => it.req));
      accepted.forEach((a, j) => {
        results[g.items[j].i] = a.ok ? { MessageID: a.messageId } : { Errors: a.problems.map((e) => ({ Code: e.code, Message: e.message })) };
      });
    }
    const ok = results.filter((r) => 'MessageID' in r).length;
    return { Total: results.length, Accepted: ok, Rejected: results.length - ok, Results: results };
  },
});
