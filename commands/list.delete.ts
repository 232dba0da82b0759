/**
 * list.delete — delete lists of the caller with their subscribers and custom fields: ListID, or Lists as
 * a comma-separated list (Octeth's Lists.Delete). All or nothing. Errors: 1 missing or malformed ids,
 * 2 a list not found (another user's included; nothing is deleted).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';

export default defineCommand({
  name: 'list.delete',
  auth: 'user',
  permission: 'List.Delete',
  errors: { 1: 'Subscriber list ids are missing (ListID or Lists)', 2: 'List not found' },
  async run(p, ctx) {
    const raw = p.listid !== undefined ? String(p.listid) : p.lists !== undefined ? String(p.lists) : '';
    const parts = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!parts.length || parts.some((s) => !/^\d{1,10}$/.test(s))) throw new CommandError(1);
    const ids = [...new Set(parts.map(Number))];
    const userId = ctx.user!.id;
    await ctx.db.transaction(async (trx) => {
      const found = await trx('lists').where({ user_id: userId }).whereIn('id', ids).pluck('id');
      if (found.length !== ids.length) throw new CommandError(2);
      // Children first: not every MySQL/SQLite setup is relied on to cascade large deletes.
      const subscriberIds = trx('subscribers').whereIn('list_id', ids).select('id');
      await trx('subscriber_values').whereIn('subscriber_id', subscriberIds).delete();
      await trx('subscribers').whereIn('list_id', ids).delete();
      await trx('list_custom_fields').whereIn('list_id', ids).delete();
      await trx('lists').where({ user_id: userId }).whereIn('id', ids).delete();
    });
    return { ErrorText: '' };
  },
});
