/**
 * subscriber.delete — delete members of the caller's list (SubscriberListID or ListID) by SubscriberID or
 * Subscribers (comma-separated, Octeth's subscribers.delete), with their field values. Ids that are not members
 * of that list are left alone. Errors (scalar): 1 missing SubscriberID/Subscribers, 2 missing list id,
 * 5 invalid list (another user's included), 6 none of the ids is a member of the list, 8 malformed Subscribers.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedList } from '../src/lists/lists';

export default defineCommand({
  name: 'subscriber.delete',
  auth: 'user',
  permission: 'Subscribers.Delete',
  errors: {
    1: 'Missing SubscriberID or Subscribers parameter',
    2: 'Missing subscriber list id (SubscriberListID)',
    5: 'Invalid list id',
    6: 'Subscriber not found',
    8: 'Invalid Subscribers value (comma-separated positive integer ids)',
  },
  async run(p, ctx) {
    const raw = p.subscriberid !== undefined ? String(p.subscriberid) : p.subscribers !== undefined ? String(p.subscribers) : '';
    const listId = p.subscriberlistid ?? p.listid;
    if (listId === undefined) throw new CommandError(2);
    const parts = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!parts.length) throw new CommandError(1);
    if (parts.some((s) => !/^\d{1,10}$/.test(s)) || parts.length > 10000) throw new CommandError(8);
    const list = await findOwnedList(ctx.db, ctx.user!.id, listId);
    if (!list) throw new CommandError(5);
    const ids = [...new Set(parts.map(Number))];
    const deleted = await ctx.db.transaction(async (trx) => {
      const members: number[] = (await trx('subscribers').where({ list_id: list.id }).whereIn('id', ids).pluck('id')).map(Number);
      if (!members.length) return 0;
      await trx('subscriber_values').whereIn('subscriber_id', members).delete();
      return trx('subscribers').where({ list_id: list.id }).whereIn('id', members).delete();
    });
    if (!deleted) throw new CommandError(6);
    return { ErrorText: '', DeletedCount: Number(deleted) };
  },
});
