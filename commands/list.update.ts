/**
 * list.update — change a list's name and settings (SubscriberListID or ListID; Name or SubscriberListName).
 * Errors (arrays): 1 missing list id, 2 unknown list (another user's included), 3 invalid OptInMode,
 * 6 invalid setting (empty Name, bad SenderEmailAddress, too long), 11 nothing to update.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedList, listColumns, presentList, statusCounts } from '../src/lists/lists';

export default defineCommand({
  name: 'list.update',
  auth: 'user',
  permission: 'List.Update',
  arrayErrors: true,
  errors: {
    1: 'Subscriber list id is missing (SubscriberListID)',
    2: 'Invalid subscriber list id',
    3: 'Invalid opt in mode (Single or Double)',
    6: 'Invalid setting (Name must not be empty; SenderEmailAddress must be an email address)',
    11: 'Nothing to update',
  },
  async run(p, ctx) {
    const listId = p.subscriberlistid ?? p.listid;
    if (listId === undefined) throw new CommandError([1]);
    const row = await findOwnedList(ctx.db, ctx.user!.id, listId);
    if (!row) throw new CommandError([2]);
    const { cols, badOptIn, badSender, badName } = listColumns(p, ['name', 'subscriberlistname']);
    const codes = [badOptIn ? 3 : 0, badName || badSender ? 6 : 0].filter(Boolean);
    if (codes.length) throw new CommandError(codes);
    if (!Object.keys(cols).length) throw new CommandError([11]);
    await ctx
      .db('lists')
      .where({ id: row.id, user_id: ctx.user!.id })
      .update({ ...cols, updated_at: Date.now() });
    const fresh = await findOwnedList(ctx.db, ctx.user!.id, row.id);
    const counts = await statusCounts(ctx.db, [row.id]);
    return { ErrorText: '', List: presentList(fresh!, counts.get(Number(row.id))) };
  },
});
