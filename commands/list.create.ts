/**
 * list.create — a subscriber list of the caller. Errors (arrays): 1 missing SubscriberListName,
 * 20 invalid OptInMode (Single or Double), 21 invalid SenderEmailAddress, 22 a setting is too long.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { listColumns } from '../src/lists/lists';

export default defineCommand({
  name: 'list.create',
  auth: 'user',
  permission: 'List.Create',
  arrayErrors: true,
  errors: {
    1: 'Missing required parameter (SubscriberListName)',
    20: 'Invalid OptInMode (Single or Double)',
    21: 'Invalid SenderEmailAddress',
    22: 'A list setting is too long (Description and SenderAddress up to 1000 characters, other settings 255)',
  },
  async run(p, ctx) {
    const { cols, badOptIn, badSender, badName } = listColumns(p, ['subscriberlistname']);
    const codes = [badName ? 1 : 0, badOptIn ? 20 : 0, badSender ? 21 : 0].filter(Boolean);
    if (codes.length) throw new CommandError(codes);
    const now = Date.now();
    const [id] = await ctx.db('lists').insert({ ...cols, user_id: ctx.user!.id, created_at: now, updated_at: now });
    return { ErrorText: '', ListID: Number(id) };
  },
});
