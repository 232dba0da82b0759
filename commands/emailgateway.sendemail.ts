/**
 * emailgateway.sendemail (POST /api/v1/email) — accept one message for delivery; answers its MessageID once committed.
 * Codes 1–38 of the contract (see README "Sending"), Postern's 40–44 for Tags, Headers, Attachments, SendAt,
 * TrackLinks/TrackOpens, 46 (account key) From domain not on the account, and 429 past 100 requests per key per
 * minute. Several failing fields answer together.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { acceptMessages, QUOTA_PROBLEM } from '../src/mail/accept';
import { recipientsOf } from '../src/mail/prepare';
import { quotaRetryAfterSec } from '../src/mail/quota';
import { acceptListSend } from '../src/mail/list-send';
import { parseSendRequest } from '../src/mail/send-request';
import { SEND_ERRORS, SEND_HTTP_STATUS } from '../src/mail/send-codes';
import { senderFor } from '../src/mail/sender-for';

export default defineCommand({
  name: 'emailgateway.sendemail',
  auth: 'sender',
  answersDisabledAccount: true, // code 12 per message, as the send contract says
  sends: true,
  rateLimit: { durationSec: 60 },
  accountKey: 'can_send',
  errors: SEND_ERRORS,
  httpStatus: SEND_HTTP_STATUS,
  async run(p, ctx) {
    const { req, problems } = parseSendRequest(p, { maxAttachmentBytes: ctx.config.maxAttachmentBytes, now: Date.now() });
    if (problems.length)
      throw new CommandError(
        problems.map((e) => e.code),
        problems.map((e) => e.message),
      );
    const who = await senderFor(ctx, req.from.email);
    if (!who.ok) throw new CommandError(who.problem.code, who.problem.message);
    const { sender } = who;
    const reply = ctx.idempotentReply;
    if (req.targetListId !== undefined) {
      // One MessageID per list member (an array), as upstream.
      const list = await acceptListSend(ctx, sender, req, reply && ((ids, how) => reply({ MessageID: ids }, how)));
      if (!list.ok)
        throw new CommandError(
          list.problems.map((e) => e.code),
          list.problems.map((e) => e.message),
        );
      return { MessageID: list.messageIds };
    }
    const [result] = await acceptMessages(ctx, sender, [req], undefined, reply && (([a]) => (a.ok ? reply({ MessageID: a.messageId }) : undefined)));
    if (!result.ok) {
      const err = new CommandError(
        result.problems.map((e) => e.code),
        result.problems.map((e) => e.message),
      );
      // When the quota renews: the client's Retry-After (a monthly quota does not at midnight).
      if (result.problems.some((e) => e.code === QUOTA_PROBLEM.code))
        err.retryAfterSec = await quotaRetryAfterSec(ctx.db, sender.user, recipientsOf(req).length, Date.now());
      throw err;
    }
    return { MessageID: result.messageId };
  },
});
