/** user.webhook.stats (GET /api/v1/user.webhook.stats) — received, failed and successful requests per UTC day of the last `Days` (1–365, default 30); quiet days omitted. Errors: 1, 2. */
import { defineCommand } from '../src/command';
import { USER_AREA } from '../src/domains/user-errors';
import { CommandError } from '../src/errors';
import { findOwnedWebhook, statsOf } from '../src/lists/webhooks';

export default defineCommand({
  name: 'user.webhook.stats',
  ...USER_AREA,
  keepsCredentialCaches: true,
  errors: { 1: 'Missing WebhookID parameter', 2: 'Webhook not found', 429: 'Too many requests' },
  async run(p, ctx) {
    const row = await findOwnedWebhook(ctx.db, ctx.user!.id, p.webhookid);
    if (!row) throw new CommandError(2);
    const days = p.days === undefined ? 30 : Math.min(365, Math.max(1, Math.floor(Number(p.days)) || 30));
    const Stats: Record<string, unknown> = {};
    for (const s of await statsOf(ctx.db, Number(row.id), days)) {
      Stats[s.day] = {
        RelWebhookID: String(row.id),
        RelUserID: String(row.user_id),
        Period: s.day,
        ReceivedRequests: String(s.received),
        FailedRequests: String(s.failed),
        SuccessfulRequests: String(s.successful),
      };
    }
    return { WebhookID: Number(row.id), Days: days, Stats };
  },
});
