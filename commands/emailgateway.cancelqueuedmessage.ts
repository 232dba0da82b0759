/**
 * emailgateway.cancelqueuedmessage — cancel the recipients of one of the caller's messages that are not sent
 * yet (scheduled, queued or deferred; not one a worker is sending right now), each with a `cancelled` event.
 * The session or user-API-key twin of DELETE /api/v1/email/{id}. Reply: MessageID, Cancelled (count).
 * Errors: 1 missing or malformed MessageID, 2 not found/denied, 3 nothing left to cancel.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { cancelDeliveries } from '../src/mail/lookup';

export default defineCommand({
  name: 'emailgateway.cancelqueuedmessage',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: {
    1: 'Missing or malformed MessageID',
    2: 'Message not found or access denied',
    3: 'Nothing to cancel: every recipient was already sent or finished',
  },
  async run(p, ctx) {
    // Ids are UUIDs, written in lowercase: their hex digits are case-insensitive (RFC 9562), so an uppercased id is the same one.
    const message = await ctx
      .db('messages')
      .where({ id: String(p.messageid).toLowerCase(), user_id: ctx.user!.id })
      .first('id');
    if (!message) throw new CommandError(2);
    const cancelled = await cancelDeliveries(ctx.db, { message_id: message.id });
    if (!cancelled) throw new CommandError(3);
    return { MessageID: message.id, Cancelled: cancelled };
  },
});
