/**
 * user.webhook.create (POST /api/v1/user.webhook) — an inbound webhook bound to one of the caller's lists; outside
 * systems call `/system/webhook/<HashedID>` with EmailAddress to subscribe (Event Subscription) or unsubscribe it.
 * Errors: 1 Name, 2 RelListID, 3 Event missing, 4 Event not Subscription|Unsubscription, 5 list not found.
 */
import { defineCommand } from '../src/command';
import { USER_AREA } from '../src/domains/user-errors';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { findOwnedList } from '../src/lists/lists';
import { eventName, newHashedId, presentWebhook } from '../src/lists/webhooks';

export default defineCommand({
  name: 'user.webhook.create',
  ...USER_AREA,
  errors: {
    1: 'Missing Name parameter',
    2: 'Missing RelListID parameter',
    3: 'Missing Event parameter',
    4: 'Event must be one of: Subscription, Unsubscription',
    5: 'Target subscriber list not found',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const event = eventName(p.event);
    if (!event) throw new CommandError(4);
    const list = await findOwnedList(ctx.db, ctx.user!.id, p.rellistid);
    if (!list) throw new CommandError(5);
    const { secret_hash, secret_enc } = newHashedId(ctx.config);
    const now = Date.now();
    const row = {
      user_id: ctx.user!.id,
      list_id: list.id,
      name: String(p.name).trim(),
      event,
      unsubscribe_all: p.unsubscribeall !== undefined && truthy(p.unsubscribeall),
      secret_hash,
      secret_enc,
      created_at: now,
      updated_at: now,
    };
    const [id] = await ctx.db('list_webhooks').insert(row);
    return { WebhookID: Number(id), Webhook: presentWebhook({ ...row, id: Number(id) }, ctx.config) };
  },
});
