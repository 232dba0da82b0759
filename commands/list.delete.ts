/**
 * list.delete — delete lists of the caller with their subscribers and custom fields: ListID, or Lists as
 * a comma-separated list (Octeth's Lists.Delete). Errors: 1 missing or malformed ids, 2 a list not found (another
 * user's included; nothing is deleted). Members go a run at a time (src/lists/purge.ts): a deletion cut short (a 503)
 * leaves the lists with fewer members, and the same call again finishes it.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { deleteLists } from '../src/lists/purge';

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
    const found = await ctx.db('lists').where({ user_id: userId }).whereIn('id', ids).pluck('id');
    if (found.length !== ids.length) throw new CommandError(2);
    await deleteLists(ctx.db, ctx.config.deleteChunkRows, userId, ids);
    return { ErrorText: '' };
  },
});
