/**
 * emailgateway.getmessagetimeline — one of the caller's messages (session or user API key): its status, each
 * recipient's status, attempts, last SMTP reply and bounce class, and the timeline of that recipient's events
 * (queued, deferred, delivered, opened, clicked, bounced, …), oldest first. The same shape as the sender-key
 * getmessage, plus DomainID and SenderDomain. Errors: 1 missing or malformed MessageID, 2 not found/denied.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { presentMessage } from '../src/mail/lookup';
import { findMessage } from '../src/mail/find-message';

export default defineCommand({
  name: 'emailgateway.getmessagetimeline',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  // findMessage expands the caller's pending batches only when the id is not yet a written message.
  settlesPending: true,
  errors: { 1: 'Missing or malformed MessageID', 2: 'Message not found or access denied' },
  async run(p, ctx) {
    // Ids are UUIDs, written in lowercase: their hex digits are case-insensitive (RFC 9562), so an uppercased id is the same one.
    const message = await findMessage(ctx, ctx.user!.id, String(p.messageid).toLowerCase());
    if (!message) throw new CommandError(2);
    const domain = await ctx.db('sender_domains').where({ id: message.domain_id }).first('domain');
    return { ...(await presentMessage(ctx.db, message, true)), DomainID: Number(message.domain_id), SenderDomain: domain?.domain ?? null };
  },
});
