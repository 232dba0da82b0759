/** customfields.get — the custom fields of one of the caller's lists (SubscriberListID or ListID), in creation order. Errors: 1 missing list id, 2 list not found (another user's included). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedList } from '../src/lists/lists';
import { fieldsOf, presentField } from '../src/lists/fields';

export default defineCommand({
  name: 'customfields.get',
  auth: 'user',
  permission: 'CustomFields.Get',
  errors: { 1: 'Missing subscriber list id (SubscriberListID)', 2: 'Subscriber list not found' },
  async run(p, ctx) {
    const listId = p.subscriberlistid ?? p.listid;
    if (listId === undefined) throw new CommandError(1);
    const list = await findOwnedList(ctx.db, ctx.user!.id, listId);
    if (!list) throw new CommandError(2);
    const fields = await fieldsOf(ctx.db, list.id);
    return { ErrorText: '', TotalFieldCount: fields.length, CustomFields: fields.map(presentField) };
  },
});
