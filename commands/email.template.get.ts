/** email.template.get — one template of the caller with its content. Errors: 1 missing TemplateID, 2 template not found (another user's included). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedTemplate, presentTemplate } from '../src/templates/templates';

export default defineCommand({
  name: 'email.template.get',
  auth: 'user',
  permission: 'EmailTemplates.Manage',
  errors: { 1: 'Missing required parameter (TemplateID)', 2: 'Template not found' },
  async run(p, ctx) {
    const row = await findOwnedTemplate(ctx.db, ctx.user!.id, p.templateid);
    if (!row) throw new CommandError(2);
    return { Template: presentTemplate(row) };
  },
});
