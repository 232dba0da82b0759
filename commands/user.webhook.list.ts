/** user.webhook.list (GET /api/v1/user.webhooks) — the caller's inbound list webhooks; IncludeStats adds ReceivedRequestsStats (last 30 UTC days, keyed by the day's Unix start). No business errors. */
import { defineCommand } from '../src/command';
import { USER_AREA } from '../src/domains/user-errors';
import { truthy } from '../src/http/params';
import { ListWebhookRow, presentWebhook, statsOf } from '../src/lists/webhooks';

export default defineCommand({
  name: 'user.webhook.list',
  ...USER_AREA,
  keepsCredentialCaches: true,
  errors: { 1: 'Invalid IncludeStats: send true or false', 429: 'Too many requests' },
  async run(p, ctx) {
    const rows: (ListWebhookRow & { list_name: string })[] = await ctx
      .db('list_webhooks as w')
      .join('lists as l', 'l.id', 'w.list_id')
      .where('w.user_id', ctx.user!.id)
      .orderBy('w.id')
      .select('w.*', 'l.name as list_name');
    const withStats = p.includestats !== undefined && truthy(p.includestats);
    const Webhooks = [];
    for (const row of rows) {
      const w = presentWebhook(row, ctx.config, row.list_name);
      if (withStats) {
        const stats: Record<string, number> = {};
        for (const s of await statsOf(ctx.db, Number(row.id), 30)) stats[String(Date.parse(`${s.day}T00:00:00Z`) / 1000)] = Number(s.received);
        w.ReceivedRequestsStats = stats;
      }
      Webhooks.push(w);
    }
    return { Webhooks };
  },
});
