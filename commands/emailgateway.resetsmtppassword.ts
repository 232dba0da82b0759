/** emailgateway.resetsmtppassword — a new password for SMTP credentials, shown once; the old one stops working. Errors: 1 missing SMTPID, 2 not found/denied. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { newSmtpPassword } from '../src/credentials/credentials';

export default defineCommand({
  name: 'emailgateway.resetsmtppassword',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (SMTPID)', 2: 'SMTP credentials not found or access denied' },
  async run(p, ctx) {
    const where = { id: Number(p.smtpid), user_id: ctx.user!.id };
    const { password, hash } = newSmtpPassword();
    const updated = await ctx.db('smtp_credentials').where(where).update({ password_hash: hash });
    if (!updated) throw new CommandError(2);
    const row = await ctx.db('smtp_credentials').where(where).first('id', 'username');
    return { SMTP: { SMTPID: Number(row.id), SMTPUsername: row.username, SMTPPassword: password } };
  },
});
