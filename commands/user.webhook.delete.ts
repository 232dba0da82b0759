/** user.webhook.delete (DELETE /api/v1/user.webhook) — delete an inbound list webhook and its statistics; its URL stops working. Errors: 1, 2 not found. */
import { defineCommand } from '../src/command';
import { USER_AREA } from '../src/domains/user-errors';
import { CommandError } from '../src/errors';
import { findOwnedWebhook } from '../src/lists/webhooks';

export default defineCommand({
  name: 'user.webhook.delete',
  ...USER_AREA,
  errors: { 1: 'Missing WebhookID parameter', 2: 'Webhook not found', 429: 'Too many requests' },
  async run(p, ctx) {
    const row = await findOwnedWebhook(ctx.db, ctx.user!.id, p.webhookid);
    if (!row || !(await ctx.db('list_webhooks').where({ id: row.id, user_id: ctx.user!.id }).delete())) throw new CommandError(2);
    return {};
  },
});
