/** list.get — one list of the caller with its subscriber count; GetStats adds counts by status. Errors (arrays): 1 missing, invalid or unknown ListID (another user's list included), 2 invalid GetStats. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { findOwnedList, presentList, statusCounts } from '../src/lists/lists';
import { fieldsOf, presentField } from '../src/lists/fields';

export default defineCommand({
  name: 'list.get',
  auth: 'user',
  permission: 'List.Get',
  arrayErrors: true,
  errors: { 1: 'The ListID parameter is missing or invalid, or the list does not exist', 2: 'Invalid GetStats flag' },
  async run(p, ctx) {
    const row = await findOwnedList(ctx.db, ctx.user!.id, p.listid);
    if (!row) throw new CommandError([1], 'List not found: check ListID');
    const [counts, fields] = await Promise.all([statusCounts(ctx.db, [row.id]), fieldsOf(ctx.db, row.id)]);
    const List = presentList(row, counts.get(Number(row.id)), p.getstats !== undefined && truthy(p.getstats));
    List.CustomFields = fields.map(presentField);
    return { List };
  },
});
