/** emailgateway.addsmtp — SMTP credentials for a domain; the password is shown once. Errors: 1 missing DomainID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { newSmtpPassword, newSmtpUsername, presentSmtp } from '../src/credentials/credentials';
import { findOwnedDomain } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.addsmtp',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    const { password, hash } = newSmtpPassword();
    const row = { user_id: ctx.user!.id, domain_id: domain.id, username: newSmtpUsername(), password_hash: hash, status: 'Enabled', created_at: Date.now() };
    const [id] = await ctx.db('smtp_credentials').insert(row);
    return { NewSMTPID: Number(id), SMTP: presentSmtp({ ...row, id: Number(id) }, ctx.config, password) };
  },
});
