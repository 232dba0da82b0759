/**
 * user.webhook.update (PUT or PATCH /api/v1/user.webhook) — change name, list, event or UnsubscribeAll; fields left
 * out keep their value; the HashedID never changes. Errors: 1 WebhookID, 2/3/4 Name/RelListID/Event sent empty,
 * 5 bad Event, 6 webhook not found, 7 list not found.
 */
import { defineCommand } from '../src/command';
import { USER_AREA } from '../src/domains/user-errors';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { findOwnedList } from '../src/lists/lists';
import { eventName, findOwnedWebhook, presentWebhook } from '../src/lists/webhooks';

export default defineCommand({
  name: 'user.webhook.update',
  ...USER_AREA,
  errors: {
    1: 'Missing WebhookID parameter',
    2: 'Missing Name parameter',
    3: 'Missing RelListID parameter',
    4: 'Missing Event parameter',
    5: 'Event must be one of: Subscription, Unsubscription',
    6: 'Webhook not found',
    7: 'Target subscriber list not found',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const row = await findOwnedWebhook(ctx.db, ctx.user!.id, p.webhookid);
    if (!row) throw new CommandError(6);
    const update: Record<string, unknown> = { updated_at: Date.now() };
    if (p.name !== undefined) update.name = String(p.name).trim();
    if (p.event !== undefined) {
      const event = eventName(p.event);
      if (!event) throw new CommandError(5);
      update.event = event;
    }
    let listName: string | undefined;
    if (p.rellistid !== undefined) {
      const list = await findOwnedList(ctx.db, ctx.user!.id, p.rellistid);
      if (!list) throw new CommandError(7);
      update.list_id = list.id;
      listName = list.name;
    }
    if (p.unsubscribeall !== undefined) update.unsubscribe_all = truthy(p.unsubscribeall);
    await ctx.db('list_webhooks').where({ id: row.id, user_id: ctx.user!.id }).update(update);
    const fresh = await findOwnedWebhook(ctx.db, ctx.user!.id, row.id);
    if (!fresh) throw new CommandError(6);
    listName ??= (await ctx.db('lists').where({ id: fresh.list_id }).first('name'))?.name;
    return { Webhook: presentWebhook(fresh, ctx.config, listName) };
  },
});
