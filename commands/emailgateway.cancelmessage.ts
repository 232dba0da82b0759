/** emailgateway.cancelmessage (DELETE /api/v1/email/{MessageID}) — cancel what is not sent yet. Errors: 4 not found, 5 nothing left to cancel. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { cancelDeliveries } from '../src/mail/lookup';
import { findMessage } from '../src/mail/find-message';
import { domainScope, inScope } from '../src/auth/account-keys';

export default defineCommand({
  name: 'emailgateway.cancelmessage',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  // findMessage expands the caller's pending batches only when the id is not yet a written message.
  settlesPending: true,
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Invalid DomainID or invalid user account',
    4: 'Message not found',
    5: 'Nothing to cancel: every recipient was already sent or finished',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const scope = domainScope(ctx);
    // Ids are UUIDs, written in lowercase: their hex digits are case-insensitive (RFC 9562), so an uppercased id is the same one.
    const message = await findMessage(ctx, scope.userId, String(p.messageid).toLowerCase(), 'scope');
    if (!message || !inScope(scope, Number(message.domain_id))) throw new CommandError(4);
    const id = String(message.id);
    const cancelled = await cancelDeliveries(ctx.db, { message_id: id });
    if (!cancelled) throw new CommandError(5);
    return { MessageID: id, Cancelled: cancelled };
  },
});
