/**
 * account.overview — the account at a glance (the platform API's GET /api/v1/stats): Contacts (distinct addresses
 * on the caller's lists, counted in bounded rounds and reused while costly: src/lists/contact-count.ts), Campaigns
 * {Total, Sending, Completed}, EmailsThisMonth (accepted since the first of the month, UTC, from the rollups) and
 * Domains (sender domains the caller can see). An account key restricted to some domains counts only theirs for
 * Campaigns (as campaigns.get lists them), EmailsThisMonth and Domains; lists belong to no domain, so Contacts is the
 * account's. No business errors.
 */
import { inCampaignScope } from '../src/campaigns/campaigns';
import { defineCommand } from '../src/command';
import { countsByDomain, figures } from '../src/stats/queries';
import { HOUR_MS } from '../src/stats/rollups';

export default defineCommand({
  name: 'account.overview',
  auth: 'user',
  accountKey: 'can_read_analytics',
  keepsCredentialCaches: true,
  errors: {},
  async run(_p, ctx) {
    const userId = ctx.user!.id;
    const domainQ = ctx.db('sender_domains').where({ user_id: userId });
    if (ctx.accountKey?.domainIds) domainQ.whereIn('id', ctx.accountKey.domainIds);
    const domainIds = (await domainQ.pluck('id')).map(Number);
    const now = new Date();
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const campaignQ = ctx.db('campaigns').where({ user_id: userId });
    await inCampaignScope(ctx.db, campaignQ, { userId, domainIds: ctx.accountKey?.domainIds ?? null });
    const [contacts, campaigns, month] = await Promise.all([
      ctx.store.contactCounts.countOf(ctx.db, userId, (err) => ctx.logger.warn('contact recount failed', { error: (err as Error).message })),
      campaignQ.groupBy('status').select('status').count({ n: '*' }),
      countsByDomain(ctx.db, domainIds, { fromHour: monthStart / HOUR_MS, toHour: Math.floor(Date.now() / HOUR_MS) + 1 }),
    ]);
    const byStatus = new Map((campaigns as { status: string; n: unknown }[]).map((r) => [r.status, Number(r.n)]));
    let sent = 0;
    for (const counts of month.values()) sent += figures(counts).Sent;
    return {
      Contacts: contacts,
      Campaigns: { Total: [...byStatus.values()].reduce((a, b) => a + b, 0), Sending: byStatus.get('sending') ?? 0, Completed: byStatus.get('completed') ?? 0 },
      EmailsThisMonth: sent,
      Domains: domainIds.length,
    };
  },
});
