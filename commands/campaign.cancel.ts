/**
 * campaign.cancel — stop a draft, sending or failed campaign: no further pages are sent (a failed one can no longer be
 * resumed) and the deliveries it queued but has not sent yet are cancelled (500 messages per transaction). A delivery
 * a worker holds at that moment is cancelled when it is next leased, not sent (src/delivery/cancelled-campaign.ts).
 * Repeatable: on a campaign already cancelled it makes the pass again, so a pass cut short (a restart, an outage) is
 * finished by asking again; `CancelledDeliveries` counts what this call cancelled.
 * Errors: 1 missing CampaignID, 2 not found, 3 already finished (completed).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { CAMPAIGN_STATUS, findCampaignInScope } from '../src/campaigns/campaigns';
import { cancelDeliveries } from '../src/mail/lookup';

export default defineCommand({
  name: 'campaign.cancel',
  auth: 'user',
  permission: 'Campaign.Create',
  accountKey: 'can_send',
  errors: { 1: 'Missing required parameter (CampaignID)', 2: 'Campaign not found', 3: 'The campaign has already finished' },
  async run(p, ctx) {
    const row = await findCampaignInScope(ctx.db, { userId: ctx.user!.id, domainIds: ctx.accountKey?.domainIds ?? null }, p.campaignid);
    if (!row) throw new CommandError(2);
    const now = Date.now();
    const updated = await ctx
      .db('campaigns')
      .where({ id: row.id, user_id: ctx.user!.id })
      .whereIn('status', [CAMPAIGN_STATUS.draft, CAMPAIGN_STATUS.sending, CAMPAIGN_STATUS.failed])
      .update({ status: CAMPAIGN_STATUS.cancelled, completed_at: now, updated_at: now });
    if (!updated) {
      // Read again: the status may have moved since the lookup (a sending campaign completed meanwhile).
      const status: string | undefined = (await ctx.db('campaigns').where({ id: row.id }).first('status'))?.status;
      if (status !== CAMPAIGN_STATUS.cancelled) throw new CommandError(3, `The campaign has already finished (${status ?? row.status})`);
    }
    let cancelled = 0;
    for (let after = ''; ;) {
      const ids: string[] = await ctx.db('messages').where({ campaign_id: row.id }).where('id', '>', after).orderBy('id').limit(500).pluck('id');
      if (!ids.length) break;
      cancelled += await cancelDeliveries(ctx.db, { message_id: ids });
      after = ids[ids.length - 1];
    }
    ctx.store.campaignProgress.forget(Number(row.id));
    return { CampaignID: Number(row.id), Status: CAMPAIGN_STATUS.cancelled, CancelledDeliveries: cancelled };
  },
});
