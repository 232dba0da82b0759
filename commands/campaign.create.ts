/**
 * campaign.create — a draft campaign: CampaignName (or Name), Subject, ListID, HTMLContent and/or PlainContent,
 * optional FromEmail/FromName (else the list's sender, else noreply@ the account's first Enabled domain); an account
 * key limited to some domains fixes that From now, on one of its domains (code 3 otherwise).
 * TemplateID copies one of the caller's templates: its subject, HTML and plain text fill what the call leaves out
 * (a copy, so editing the template later does not change a campaign already written).
 * Errors (array): 1 missing CampaignName, 2 list not found (another user's too), 3 invalid FromEmail, 4 Subject too
 * long or multi-line, 5 template not found (another user's too), 6 HTMLContent or PlainContent not text, 7 HTMLContent or
 * PlainContent (after the template) over 5 MiB.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isEmail } from '../src/auth/user-fields';
import { findOwnedList } from '../src/lists/lists';
import { findOwnedTemplate, TemplateRow } from '../src/templates/templates';
import { CAMPAIGN_CONTENT_MAX_BYTES, senderOf } from '../src/campaigns/campaigns';

export default defineCommand({
  name: 'campaign.create',
  auth: 'user',
  permission: 'Campaign.Create',
  accountKey: 'can_send',
  arrayErrors: true,
  errors: {
    1: 'Missing or invalid CampaignName (one to 255 characters)',
    2: 'List not found',
    3: 'Invalid FromEmail',
    4: 'Subject must be one line of at most 997 characters',
    5: 'Template not found',
    6: 'HTMLContent and PlainContent must be text',
    7: `HTMLContent and PlainContent may hold at most ${CAMPAIGN_CONTENT_MAX_BYTES} bytes each`,
  },
  async run(p, ctx) {
    const name = String(p.campaignname ?? p.name ?? '').trim();
    const codes: number[] = [];
    if (!name) codes.push(1);
    let template: TemplateRow | undefined;
    if (p.templateid !== undefined && p.templateid !== '') {
      template = await findOwnedTemplate(ctx.db, ctx.user!.id, p.templateid);
      if (!template) codes.push(5);
    }
    // With a template, a parameter left out or empty takes the template's value.
    const own = (v: unknown): string | undefined => (typeof v === 'string' && (v !== '' || !template) ? v : undefined);
    const subject = own(p.subject) ?? template?.subject ?? '';
    if (/[\r\n]/.test(subject) || subject.length > 997) codes.push(4);
    const from = p.fromemail === undefined || p.fromemail === '' ? null : String(p.fromemail).trim();
    if (from !== null && !isEmail(from)) codes.push(3);
    let listId: number | null = null;
    if (p.listid !== undefined && p.listid !== '') {
      const list = await findOwnedList(ctx.db, ctx.user!.id, p.listid);
      if (!list) codes.push(2);
      else listId = Number(list.id);
    }
    const html = own(p.htmlcontent) ?? template?.html ?? null;
    const text = own(p.plaincontent) ?? template?.text ?? null;
    if ([html, text].some((c) => c !== null && Buffer.byteLength(c, 'utf8') > CAMPAIGN_CONTENT_MAX_BYTES)) codes.push(7);
    if (codes.length) throw new CommandError(codes);
    const fromName =
      p.fromname === undefined
        ? ''
        : String(p.fromname)
            .replace(/[\r\n]/g, ' ')
            .slice(0, 255);
    // A key limited to some domains sees only the drafts whose From is on one of them (inCampaignScope): its draft
    // takes its From now, as launch would work it out, or it could never be shown, launched or cancelled.
    const limited = ctx.accountKey?.domainIds;
    const sender = limited ? await senderOf(ctx.db, { user_id: ctx.user!.id, list_id: listId, from_email: from, from_name: fromName }, limited) : null;
    if (sender && 'problem' in sender) throw new CommandError([3], [sender.problem]);
    if (sender && !limited!.includes(sender.domainId)) throw new CommandError([3], [`This API key may not send from ${sender.email}`]);
    const now = Date.now();
    const [id] = await ctx.db('campaigns').insert({
      user_id: ctx.user!.id,
      list_id: listId,
      name: name.slice(0, 255),
      subject,
      html,
      text,
      from_email: sender?.email ?? from,
      from_name: sender?.name ?? fromName,
      status: 'draft',
      created_at: now,
      updated_at: now,
    });
    return { CampaignID: Number(id) };
  },
});
