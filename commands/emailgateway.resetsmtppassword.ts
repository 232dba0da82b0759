/**
 * emailgateway.resetsmtppassword — a new password for SMTP credentials, shown once; the old one stops working.
 * Errors: 1 missing SMTPID, 2 not found/denied, 3 the caller is IP-restricted (a user key with a BoundIPAddress, or a
 * session opened with one): the new password would work from any address; nothing is changed; 4 its domain is being
 * deleted (src/domains/deleting.ts): the password is left as it was. A domain deleted meanwhile (before the new
 * password is stored, or after, before it is answered: the login went with it) answers 2.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { newSmtpPassword } from '../src/credentials/credentials';
import { refuseUnboundCredential } from '../src/credentials/key-reach';
import { DOMAIN_DELETING_TEXT, unlessDeleting } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.resetsmtppassword',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (SMTPID)',
    2: 'SMTP credentials not found or access denied',
    3: 'An IP-restricted key (or a session opened with one) cannot reset SMTP passwords: they work from any address',
    4: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 4: 409 },
  async run(p, ctx) {
    refuseUnboundCredential(ctx, 3, 'SMTP passwords');
    const userId = ctx.user!.id;
    const where = { id: Number(p.smtpid), user_id: userId };
    const found = await ctx.db('smtp_credentials').where(where).first('domain_id');
    if (!found) throw new CommandError(2);
    const { password, hash } = newSmtpPassword();
    const domain = { id: Number(found.domain_id), user_id: userId };
    const updated = await unlessDeleting(
      ctx.db,
      domain,
      (state) => new CommandError(state === 'gone' ? 2 : 4),
      (trx) => trx('smtp_credentials').where(where).update({ password_hash: hash }),
    );
    if (!updated) throw new CommandError(2);
    const row = await ctx.db('smtp_credentials').where(where).first('id', 'username');
    if (!row) throw new CommandError(2); // its domain's deletion finished since the password was stored: gone with it
    return { SMTP: { SMTPID: Number(row.id), SMTPUsername: row.username, SMTPPassword: password } };
  },
});
