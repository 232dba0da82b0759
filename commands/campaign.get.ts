/** campaign.get — one campaign with its live progress (recipients, queued, skipped, sent, delivered, bounced, opened, clicked). Errors: 1 missing CampaignID, 2 not found (another user's too). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findCampaignInScope, presentCampaign, progressOf, refreshFailed } from '../src/campaigns/campaigns';

export default defineCommand({
  name: 'campaign.get',
  auth: 'user',
  permission: 'Campaign.Get',
  accountKey: 'can_read_analytics',
  keepsCredentialCaches: true,
  errors: { 1: 'Missing required parameter (CampaignID)', 2: 'Campaign not found' },
  async run(p, ctx) {
    const row = await findCampaignInScope(ctx.db, { userId: ctx.user!.id, domainIds: ctx.accountKey?.domainIds ?? null }, p.campaignid);
    if (!row) throw new CommandError(2);
    const progress = await progressOf(ctx.db, ctx.store.campaignProgress, [row], refreshFailed(ctx));
    return { Campaign: presentCampaign(row, progress.get(Number(row.id))!) };
  },
});
