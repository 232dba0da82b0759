/**
 * email.template.update — change a template of the caller; only the values sent change. An empty content value
 * removes that part, but a template keeps HTML or plain text. Errors (arrays): 1 missing TemplateID, 2 template
 * not found (another user's included), 3 empty TemplateName, 4 no content would remain, 5 nothing to update,
 * 6 a value is too long.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedTemplate, hasContent, presentTemplate, TemplateRow } from '../src/templates/templates';

export default defineCommand({
  name: 'email.template.update',
  auth: 'user',
  permission: 'EmailTemplates.Manage',
  arrayErrors: true,
  errors: {
    1: 'Missing required parameter (TemplateID)',
    2: 'Template not found',
    3: 'TemplateName may not be empty',
    4: 'A template needs TemplateHTMLContent or TemplatePlainContent',
    5: 'Nothing to update',
    6: 'A template value is too long',
  },
  async run(p, ctx) {
    const row = await findOwnedTemplate(ctx.db, ctx.user!.id, p.templateid);
    if (!row) throw new CommandError([2]);
    const cols: Partial<TemplateRow> = {};
    if (p.templatename !== undefined) cols.name = String(p.templatename).trim();
    if (p.templatedescription !== undefined) cols.description = String(p.templatedescription);
    if (p.templatesubject !== undefined) cols.subject = String(p.templatesubject);
    if (p.templatehtmlcontent !== undefined) cols.html = String(p.templatehtmlcontent).trim() ? String(p.templatehtmlcontent) : null;
    if (p.templateplaincontent !== undefined) cols.text = String(p.templateplaincontent).trim() ? String(p.templateplaincontent) : null;
    const codes = [
      cols.name === '' ? 3 : 0,
      hasContent(cols.html !== undefined ? cols.html : row.html, cols.text !== undefined ? cols.text : row.text) ? 0 : 4,
    ].filter(Boolean);
    if (codes.length) throw new CommandError(codes);
    if (!Object.keys(cols).length) throw new CommandError([5]);
    await ctx
      .db('templates')
      .where({ id: row.id, user_id: ctx.user!.id })
      .update({ ...cols, updated_at: Date.now() });
    const fresh = (await findOwnedTemplate(ctx.db, ctx.user!.id, row.id))!;
    return { ErrorText: '', Template: presentTemplate(fresh) };
  },
});
