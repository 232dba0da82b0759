/**
 * campaigns.get — the caller's campaigns, newest first, with live progress; RecordsPerRequest (1–100, default 25) and
 * RecordsFrom paging, optional CampaignStatus filter. IncludeContent=0 leaves out HTMLContent and PlainContent (each up
 * to the message size limit): a list that polls, as the console's does, reads and sends no content.
 */
import { defineCommand } from '../src/command';
import { truthy } from '../src/http/params';
import { CampaignRow, inCampaignScope, presentCampaign, progressOf, refreshFailed } from '../src/campaigns/campaigns';

/** Every column but the content (html, text). */
const LISTED_COLUMNS = [
  'id',
  'user_id',
  'list_id',
  'domain_id',
  'name',
  'subject',
  'from_email',
  'from_name',
  'status',
  'cursor',
  'recipients',
  'queued',
  'skipped',
  'error',
  'created_at',
  'updated_at',
  'launched_at',
  'completed_at',
];

export default defineCommand({
  name: 'campaigns.get',
  auth: 'user',
  permission: 'Campaigns.Get',
  accountKey: 'can_read_analytics',
  keepsCredentialCaches: true,
  arrayErrors: true,
  errors: { 1: 'Invalid paging value (RecordsPerRequest 1-100, RecordsFrom 0 or more)', 2: 'Invalid CampaignStatus', 3: 'Invalid IncludeContent' },
  async run(p, ctx) {
    const q = ctx.db('campaigns').where({ user_id: ctx.user!.id });
    if (p.campaignstatus !== undefined) q.where({ status: String(p.campaignstatus).toLowerCase() });
    // An account key limited to some domains lists only their campaigns.
    await inCampaignScope(ctx.db, q, { userId: ctx.user!.id, domainIds: ctx.accountKey?.domainIds ?? null });
    const [{ n }] = await q.clone().count({ n: '*' });
    const content = p.includecontent === undefined || truthy(p.includecontent);
    const page = q
      .orderBy('id', 'desc')
      .limit(Number(p.recordsperrequest ?? 25))
      .offset(Number(p.recordsfrom ?? 0));
    const rows: CampaignRow[] = await (content ? page : page.select(LISTED_COLUMNS));
    const progress = await progressOf(ctx.db, ctx.store.campaignProgress, rows, refreshFailed(ctx));
    const presented = rows.map((r) => presentCampaign(r, progress.get(Number(r.id))!));
    if (!content) {
      for (const c of presented) {
        delete c.HTMLContent;
        delete c.PlainContent;
      }
    }
    return { TotalCampaigns: Number(n), Campaigns: presented };
  },
});
