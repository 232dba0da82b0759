/** email.template.delete — delete a template of the caller. Errors: 1 missing TemplateID, 2 template not found (another user's included). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';

export default defineCommand({
  name: 'email.template.delete',
  auth: 'user',
  permission: 'EmailTemplates.Manage',
  errors: { 1: 'Missing required parameter (TemplateID)', 2: 'Template not found' },
  async run(p, ctx) {
    const n = await ctx
      .db('templates')
      .where({ id: Number(p.templateid), user_id: ctx.user!.id })
      .delete();
    if (!n) throw new CommandError(2);
    return { ErrorText: '' };
  },
});
