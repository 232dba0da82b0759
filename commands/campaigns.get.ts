/** campaigns.get — the caller's campaigns, newest first, with live progress; RecordsPerRequest (1–100, default 25) and RecordsFrom paging, optional CampaignStatus filter. */
import { defineCommand } from '../src/command';
import { CampaignRow, inCampaignScope, presentCampaign, progressOf, refreshFailed } from '../src/campaigns/campaigns';

export default defineCommand({
  name: 'campaigns.get',
  auth: 'user',
  permission: 'Campaigns.Get',
  accountKey: 'can_read_analytics',
  keepsCredentialCaches: true,
  arrayErrors: true,
  errors: { 1: 'Invalid paging value (RecordsPerRequest 1-100, RecordsFrom 0 or more)', 2: 'Invalid CampaignStatus' },
  async run(p, ctx) {
    const q = ctx.db('campaigns').where({ user_id: ctx.user!.id });
    if (p.campaignstatus !== undefined) q.where({ status: String(p.campaignstatus).toLowerCase() });
    // An account key limited to some domains lists only their campaigns.
    await inCampaignScope(ctx.db, q, { userId: ctx.user!.id, domainIds: ctx.accountKey?.domainIds ?? null });
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows: CampaignRow[] = await q
      .orderBy('id', 'desc')
      .limit(Number(p.recordsperrequest ?? 25))
      .offset(Number(p.recordsfrom ?? 0));
    const progress = await progressOf(ctx.db, ctx.store.campaignProgress, rows, refreshFailed(ctx));
    return { TotalCampaigns: Number(n), Campaigns: rows.map((r) => presentCampaign(r, progress.get(Number(r.id))!)) };
  },
});
