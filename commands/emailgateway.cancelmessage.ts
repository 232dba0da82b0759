/** emailgateway.cancelmessage (DELETE /api/v1/email/{MessageID}) — cancel what is not sent yet. Errors: 4 not found, 5 nothing left to cancel. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { cancelDeliveries } from '../src/mail/lookup';

export default defineCommand({
  name: 'emailgateway.cancelmessage',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Invalid DomainID or invalid user account',
    4: 'Message not found',
    5: 'Nothing to cancel: every recipient was already sent or finished',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const message = await ctx
      .db('messages')
      .where({ id: String(p.messageid), domain_id: ctx.domain!.id })
      .first('id');
    if (!message) throw new CommandError(4);
    const cancelled = await cancelDeliveries(ctx.db, { message_id: message.id });
    if (!cancelled) throw new CommandError(5);
    return { MessageID: message.id, Cancelled: cancelled };
  },
});
