/**
 * campaign.launch — start sending a draft: checks the list and the From, counts the recipients (subscribed members
 * not suppressed on the From's domain), marks it `sending` and hands it to the worker, which pages through the
 * list (src/campaigns/launcher.ts). Answers at once, also when the job cannot be added (the sweeper starts it).
 * A `failed` campaign (its quota used up, its account or domain disabled) is resumed after the same checks: it goes on
 * from its cursor, keeping its figures, so members it already queued are not sent it again.
 * Errors: 1 missing CampaignID, 2 not found (also outside a domain-limited account key's domains, as campaign.get
 * answers), 3 neither a draft nor failed, 4 no list, 5 no usable From (no Enabled sender domain, or a From name that reads as an
 * address), 6 no content (Subject and HTML or plain text), 7 the account may not send (not verified), 8 content larger
 * than this install sends (SMTP_MAX_MESSAGE_BYTES), 9 the account's daily or monthly quota has no room left. 5, 7 and 8
 * are the send path's own checks (refusedForEveryone):
 * a campaign it would refuse for every member is not launched only to fail on its first page.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { CAMPAIGN_STATUS, campaignRequest, findCampaignInScope, senderOf } from '../src/campaigns/campaigns';
import { refusedForEveryone } from '../src/mail/prepare';
import { quotaRetryAfterSec, sentInPeriods } from '../src/mail/quota';
import type { DomainRow } from '../src/domains/domains';
import { nudgeCampaign } from '../src/campaigns/launcher';
import { findOwnedList } from '../src/lists/lists';
import { countSubscribedMembers } from '../src/lists/api';

/** The send path's codes (src/mail/prepare.ts) as this command's: From 3 → 5, account 12/34 → 7, size 42 → 8. */
const LAUNCH_CODE: Record<number, number> = { 3: 5, 32: 5, 12: 7, 34: 7, 42: 8 };

export default defineCommand({
  name: 'campaign.launch',
  auth: 'user',
  permission: 'Campaign.Create',
  accountKey: 'can_send',
  errors: {
    1: 'Missing required parameter (CampaignID)',
    2: 'Campaign not found',
    3: 'Only a draft or failed campaign can be launched',
    4: 'The campaign has no list: set ListID first',
    5: 'The campaign has no usable From address',
    6: 'The campaign has no content: it needs a Subject and HTML or plain text',
    7: 'The account may not send: it is disabled or not verified',
    8: 'The campaign is larger than this install sends (SMTP_MAX_MESSAGE_BYTES)',
    9: "The account's sending quota is used up: launch once it starts over",
  },
  async run(p, ctx) {
    const row = await findCampaignInScope(ctx.db, { userId: ctx.user!.id, domainIds: ctx.accountKey?.domainIds ?? null }, p.campaignid);
    if (!row) throw new CommandError(2);
    const resume = row.status === CAMPAIGN_STATUS.failed;
    if (row.status !== CAMPAIGN_STATUS.draft && !resume)
      throw new CommandError(3, `Only a draft or failed campaign can be launched (this one is ${row.status})`);
    if (row.list_id === null || !(await findOwnedList(ctx.db, ctx.user!.id, row.list_id))) throw new CommandError(4);
    if (!row.subject.trim() || (!row.html && !row.text)) throw new CommandError(6);
    const from = await senderOf(ctx.db, row);
    if ('problem' in from) throw new CommandError(5, from.problem);
    if (ctx.accountKey?.domainIds && !ctx.accountKey.domainIds.includes(from.domainId))
      throw new CommandError(5, "This API key may not send from the campaign's From domain");
    const domain: DomainRow = await ctx.db('sender_domains').where({ id: from.domainId }).first();
    const refused = await refusedForEveryone(ctx, { user: ctx.user!, domain, apiKeyId: null, source: 'api' }, campaignRequest(row, from), {
      campaignId: Number(row.id),
      listSend: true,
    });
    if (refused.length) throw new CommandError(LAUNCH_CODE[refused[0].code] ?? 6, refused.map((p) => p.message).join('; '));
    const now = Date.now();
    // No room for a single message: its first page would fail it at once (a resume of a campaign the quota stopped too).
    const used = await sentInPeriods(ctx.db, ctx.user!.id, now);
    const full = (limit: unknown, sent: number) => Number(limit) > 0 && sent >= Number(limit);
    if (full(ctx.user!.limit_daily, used.day) || full(ctx.user!.limit_monthly, used.month)) {
      const until = new Date(now + (await quotaRetryAfterSec(ctx.db, ctx.user!, 1, now)) * 1000).toISOString();
      throw new CommandError(9, `The account's sending quota is used up until ${until}: launch then, or ask for a higher limit`);
    }
    // A resumed campaign keeps its cursor, figures and first launch time. Its lease is left alone: the worker that failed
    // it releases it, under an owner name its process shares with a new run, so clearing it here could drop that run's.
    const recipients = resume ? Number(row.recipients) : await countSubscribedMembers(ctx.db, row.list_id, from.domainId, ctx.config.campaignProgressPage);
    const started = resume ? { error: null, completed_at: null } : { recipients, cursor: 0, launched_at: now };
    const updated = await ctx
      .db('campaigns')
      .where({ id: row.id, user_id: ctx.user!.id, status: row.status })
      // The From is fixed at launch: the launcher works it out again at every claim (a restart, a hand-on), and a list
      // whose sender address changed meanwhile sent the rest from another domain, checked against that domain's
      // suppressions (a member who unsubscribed from the first got it from the second).
      .update({ status: CAMPAIGN_STATUS.sending, domain_id: from.domainId, from_email: from.email, from_name: from.name, updated_at: now, ...started });
    if (!updated) throw new CommandError(3);
    // Launched once committed: the job only speeds it up. A failed add (Redis away) is the sweeper's to make good,
    // as for deliveries; answering 503 here made a retry get 3 and a client that gave up send a copy.
    await nudgeCampaign(ctx, Number(row.id)).catch((err) =>
      ctx.logger.warn('campaign job not added; the sweeper will start it', { campaignId: Number(row.id), error: (err as Error).message }),
    );
    return { CampaignID: Number(row.id), Status: CAMPAIGN_STATUS.sending, Recipients: recipients };
  },
});
