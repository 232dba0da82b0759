/** user.webhook.get (GET /api/v1/user.webhook) — one inbound list webhook. Errors: 1 missing WebhookID, 2 not found (another user's too). */
import { defineCommand } from '../src/command';
import { USER_AREA } from '../src/domains/user-errors';
import { CommandError } from '../src/errors';
import { findOwnedWebhook, presentWebhook } from '../src/lists/webhooks';

export default defineCommand({
  name: 'user.webhook.get',
  ...USER_AREA,
  keepsCredentialCaches: true,
  errors: { 1: 'Missing WebhookID parameter', 2: 'Webhook not found', 429: 'Too many requests' },
  async run(p, ctx) {
    const row = await findOwnedWebhook(ctx.db, ctx.user!.id, p.webhookid);
    if (!row) throw new CommandError(2);
    return { Webhook: presentWebhook(row, ctx.config) };
  },
});
