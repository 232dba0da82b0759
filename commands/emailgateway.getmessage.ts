/** emailgateway.getmessage (GET /api/v1/email/{MessageID}) — a message of the key's domain (an account key: of its domains) with each recipient's status and events. Errors: 4 not found. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { presentMessage } from '../src/mail/lookup';
import { findMessage } from '../src/mail/find-message';
import { domainScope, inScope } from '../src/auth/account-keys';

export default defineCommand({
  name: 'emailgateway.getmessage',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  accountKey: 'can_read_analytics',
  // findMessage expands the caller's pending batches only when the id is not yet a written message.
  settlesPending: true,
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Invalid DomainID or invalid user account',
    4: 'Message not found',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const scope = domainScope(ctx);
    // Ids are UUIDs, written in lowercase: their hex digits are case-insensitive (RFC 9562), so an uppercased id is the same one.
    const message = await findMessage(ctx, scope.userId, String(p.messageid).toLowerCase());
    if (!message || !inScope(scope, Number(message.domain_id))) throw new CommandError(4);
    return presentMessage(ctx.db, message, true);
  },
});
