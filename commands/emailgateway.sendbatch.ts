/**
 * emailgateway.sendbatch (POST /api/v1/email/batch) — up to 1,000 messages, each validated on its own; the
 * accepted ones are written in one transaction and enqueued together. Errors: 45 Messages missing or over 1,000.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { Accepted, acceptMessages } from '../src/mail/accept';
import { parseSendRequest, SendRequest } from '../src/mail/send-request';
import { SEND_ERRORS, SEND_HTTP_STATUS } from '../src/mail/send-codes';

export default defineCommand({
  name: 'emailgateway.sendbatch',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
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
    const sender = { user: ctx.user!, domain: ctx.domain!, apiKeyId: ctx.senderKeyId ?? null, source: 'api' as const };
    const resultOf = (accepted: Accepted[]) => {
      const all = [...results];
      accepted.forEach((a, j) => {
        all[valid[j].i] = a.ok ? { MessageID: a.messageId } : { Errors: a.problems.map((e) => ({ Code: e.code, Message: e.message })) };
      });
      const ok = all.filter((r) => 'MessageID' in r).length;
      return { Total: all.length, Accepted: ok, Rejected: all.length - ok, Results: all };
    };
    const reply = ctx.idempotentReply;
    // With an Idempotency-Key, the reply is committed with the messages (the same one this returns).
    const accepted = await acceptMessages(ctx, sender, valid.map(({ x }) => x.req as SendRequest), undefined, reply && ((a) => reply(resultOf(a))));
    return resultOf(accepted);
  },
});
