/**
 * lists.get — the caller's lists, paged. RecordsPerRequest 0 = all; Search matches the name; Archived=1
 * answers no lists (lists are never archived here). Errors (arrays): 1 RecordsPerRequest, 2 RecordsFrom,
 * 3 Search, 4 OrderField (ListID, Name, CreatedAt), 5 OrderType (ASC, DESC), 6 Archived.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { ListRow, presentList, statusCounts } from '../src/lists/lists';
import { containsPattern } from '../src/db';

const ORDER = new Map([
  ['listid', 'id'],
  ['name', 'name'],
  ['createdat', 'created_at'],
]);

export default defineCommand({
  name: 'lists.get',
  auth: 'user',
  permission: 'Lists.Get',
  arrayErrors: true,
  errors: {
    1: 'Invalid RecordsPerRequest (0-1000, 0 = all)',
    2: 'Invalid RecordsFrom',
    3: 'Invalid Search',
    4: 'Invalid OrderField (ListID, Name or CreatedAt)',
    5: 'Invalid OrderType (ASC or DESC)',
    6: 'Invalid Archived flag',
  },
  async run(p, ctx) {
    const column = ORDER.get(String(p.orderfield ?? 'ListID').toLowerCase());
    if (!column) throw new CommandError([4]);
    if (p.archived !== undefined && truthy(p.archived)) return { ErrorText: '', TotalListCount: 0, Lists: [] };
    const q = ctx.db('lists').where({ user_id: ctx.user!.id });
    if (p.search) q.whereRaw(`name like ? escape '!'`, [containsPattern(String(p.search))]);
    const [{ n }] = await q.clone().count({ n: '*' });
    q.orderBy(column, String(p.ordertype ?? 'ASC').toUpperCase() === 'DESC' ? 'desc' : 'asc').orderBy('id', 'asc');
    const perRequest = Number(p.recordsperrequest ?? 0);
    q.limit(perRequest > 0 ? perRequest : 2 ** 31).offset(Number(p.recordsfrom ?? 0));
    const rows: ListRow[] = await q;
    const counts = await statusCounts(
      ctx.db,
      rows.map((r) => Number(r.id)),
    );
    return { ErrorText: '', TotalListCount: Number(n), Lists: rows.map((r) => presentList(r, counts.get(Number(r.id)))) };
  },
});
