/**
 * email.template.create — a reusable email (subject, HTML and/or plain text) of the caller, usable as TemplateID
 * when sending. RelOwnerUserID is an admin-only parameter and is ignored for users.
 * Errors (arrays): 1 missing TemplateName, 2 no content (TemplateHTMLContent or TemplatePlainContent), 3 a value
 * is too long (name 255, description 1000, subject 998 characters; content 5 MB).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { hasContent } from '../src/templates/templates';

export default defineCommand({
  name: 'email.template.create',
  auth: 'user',
  permission: 'EmailTemplates.Manage',
  arrayErrors: true,
  errors: {
    1: 'Missing required parameter (TemplateName)',
    2: 'Missing content: send TemplateHTMLContent and/or TemplatePlainContent',
    3: 'A template value is too long',
  },
  async run(p, ctx) {
    const name = String(p.templatename ?? '').trim();
    const html = p.templatehtmlcontent === undefined ? null : String(p.templatehtmlcontent);
    const text = p.templateplaincontent === undefined ? null : String(p.templateplaincontent);
    const codes = [name ? 0 : 1, hasContent(html, text) ? 0 : 2].filter(Boolean);
    if (codes.length) throw new CommandError(codes);
    const now = Date.now();
    const [id] = await ctx.db('templates').insert({
      user_id: ctx.user!.id,
      name,
      description: p.templatedescription === undefined ? '' : String(p.templatedescription),
      subject: p.templatesubject === undefined ? '' : String(p.templatesubject),
      html: html && html.trim() ? html : null,
      text: text && text.trim() ? text : null,
      created_at: now,
      updated_at: now,
    });
    return { ErrorText: '', TemplateID: Number(id) };
  },
});
