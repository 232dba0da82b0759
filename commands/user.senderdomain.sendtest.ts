/**
 * user.senderdomain.sendtest (POST /api/v1/user.senderdomain.sendtest; 10 per 5 minutes) — one real test message
 * from `test@<domain>` through the normal send pipeline, naming the domain's MFROM and tracking hosts.
 * Errors: 1 missing DomainID, 2 not found, 3 missing to, 8 invalid to, 11 the message could not be sent (HTTP 502;
 * e.g. the domain is not Enabled, or the address is suppressed).
 */
import escapeHtml from 'escape-html';
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isEmail } from '../src/auth/user-fields';
import { findOwnedDomain } from '../src/domains/domains';
import { composeHosts } from '../src/domains/names';
import { acceptMessages } from '../src/mail/accept';
import { builtRequest } from '../src/mail/send-request';
import { DOMAIN_NOT_FOUND, MISSING_DOMAIN_ID, USER_AREA } from '../src/domains/user-errors';

export default defineCommand({
  name: 'user.senderdomain.sendtest',
  ...USER_AREA,
  rateLimit: { durationSec: 300, points: 10 },
  keepsCredentialCaches: true,
  errors: {
    1: MISSING_DOMAIN_ID,
    2: DOMAIN_NOT_FOUND,
    3: 'Missing To parameter',
    8: 'Invalid recipient email address',
    11: 'Test message delivery failed',
    429: 'Too many requests',
  },
  httpStatus: { 11: 502 },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const to = String(p.to ?? '').trim();
    if (!to) throw new CommandError(3);
    if (!isEmail(to)) throw new CommandError(8);
    const hosts = composeHosts(row, ctx.config);
    const subject =
      typeof p.subject === 'string' && p.subject.trim()
        ? p.subject
            .trim()
            .replace(/[\r\n]+/g, ' ')
            .slice(0, 998)
        : `Sender domain test from ${row.domain}`;
    const lines = [`From address: test@${row.domain}`, `Return path (MFROM) host: ${hosts.mfromHost}`, `Tracking host: ${hosts.trackingHost}`];
    const req = builtRequest({
      subject,
      from: { name: 'Postern sender domain test', email: `test@${row.domain}` },
      to: [{ name: '', email: to }],
      text: lines.join('\n'),
      html: `<p>${lines.map((l) => escapeHtml(l)).join('<br>')}</p>`,
      tags: ['senderdomain-test'],
    });
    const [outcome] = await acceptMessages(ctx, { user: ctx.user!, domain: row, apiKeyId: null, source: 'api' }, [req]);
    if (!outcome.ok) throw new CommandError(11, `Test message delivery failed: ${outcome.problems.map((x) => x.message).join('; ')}`);
    return { DomainID: Number(row.id), SenderDomain: row.domain, To: to, Subject: subject, MessageID: outcome.messageId };
  },
});
