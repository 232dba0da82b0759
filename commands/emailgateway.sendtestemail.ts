/**
 * emailgateway.sendtestemail — send a test message from one of the caller's domains with a session or user
 * API key, through the same pipeline as /api/v1/email (DKIM, tracking, suppression, limits). ToEmail
 * (required), FromEmail (default `test@<domain>`; must be on the domain), Subject and PlainContent (defaults
 * say what the message is). Reply: MessageID, to follow in getmessagelog / getmessagetimeline.
 * Errors: 1 missing DomainID, 2 domain not found/denied, 3 missing or invalid ToEmail, 4 invalid FromEmail,
 * Subject or PlainContent, 5 refused by the send pipeline (ErrorText says why: domain not verified, suppressed,
 * sending limit, …).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { acceptMessages } from '../src/mail/accept';
import { parseSendRequest } from '../src/mail/send-request';

export default defineCommand({
  name: 'emailgateway.sendtestemail',
  auth: 'user',
  sends: true,
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: {
    1: 'Missing required parameter (DomainID)',
    2: 'Domain not found or access denied',
    3: 'Missing or invalid ToEmail',
    4: 'Invalid FromEmail, Subject or PlainContent',
    5: 'The test message was refused',
  },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    const from = typeof p.fromemail === 'string' && p.fromemail.trim() ? p.fromemail.trim() : `test@${domain.domain}`;
    const subject = typeof p.subject === 'string' && p.subject.trim() ? p.subject.trim() : `Test message from ${domain.domain}`;
    const text =
      typeof p.plaincontent === 'string' && p.plaincontent.trim()
        ? p.plaincontent
        : `This is a test message sent from ${domain.domain} through Postern.\nIf you can read it, the domain can send.`;
    const { req, problems } = parseSendRequest(
      { subject, contenttype: 'plain', plaincontent: text, from: { name: '', email: from }, to: [{ name: '', email: String(p.toemail).trim() }] },
      { maxAttachmentBytes: ctx.config.maxAttachmentBytes, now: Date.now() },
    );
    if (problems.length) {
      const toProblem = problems.some((x) => x.code >= 18 && x.code <= 20);
      throw new CommandError(toProblem ? 3 : 4, problems.map((x) => x.message).join('; '));
    }
    const [result] = await acceptMessages(ctx, { user: ctx.user!, domain, apiKeyId: null, source: 'api' }, [req]);
    if (!result.ok) throw new CommandError(5, result.problems.map((x) => x.message).join('; '));
    return { MessageID: result.messageId };
  },
});
