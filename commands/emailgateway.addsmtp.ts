/**
 * emailgateway.addsmtp — SMTP credentials for a domain; the password is shown once. Errors: 1 missing DomainID,
 * 2 not found/denied, 3 the caller is IP-restricted (a user key with a BoundIPAddress, or a session opened with one):
 * SMTP credentials have no address restriction, so they would let the caller send from anywhere; 4 the domain is
 * being deleted (src/domains/deleting.ts). A domain deleted meanwhile answers 2, nothing stored.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { newSmtpPassword, newSmtpUsername, presentSmtp } from '../src/credentials/credentials';
import { findOwnedDomain } from '../src/domains/domains';
import { refuseUnboundCredential } from '../src/credentials/key-reach';
import { DOMAIN_DELETING_TEXT, unlessDeleting } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.addsmtp',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (DomainID)',
    2: 'Domain not found or access denied',
    3: 'An IP-restricted key (or a session opened with one) cannot make SMTP credentials: they work from any address',
    4: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 4: 409 },
  async run(p, ctx) {
    refuseUnboundCredential(ctx, 3, 'SMTP credentials');
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    const { password, hash } = newSmtpPassword();
    const row = { user_id: ctx.user!.id, domain_id: domain.id, username: newSmtpUsername(), password_hash: hash, status: 'Enabled', created_at: Date.now() };
    const [id] = await unlessDeleting(
      ctx.db,
      domain,
      (state) => new CommandError(state === 'gone' ? 2 : 4),
      (trx) => trx('smtp_credentials').insert(row),
    );
    return { NewSMTPID: Number(id), SMTP: presentSmtp({ ...row, id: Number(id) }, ctx.config, password) };
  },
});
