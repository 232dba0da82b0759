/**
 * contacts.list — GET /api/v1/contacts?listId=&status=&limit=&page= (peer platform shape): the caller's contacts,
 * of one list or of all their lists, by id; `{contacts: [...], total, page}`. limit 1-100 (default 50), page from 1.
 * Errors: 4 list not found (another user's included; HTTP 404), 6 invalid status, 8 invalid limit, 9 invalid page.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedList } from '../src/lists/lists';
import { suppressedForOwner } from '../src/lists/subscribers';
import { valuesFor } from '../src/lists/fields';
import { CONTACT_STATUS, contactPage, contactTotal, nameFields, presentContact, totalWithPage } from '../src/lists/contacts';

export default defineCommand({
  name: 'contacts.list',
  auth: 'user',
  permission: 'Subscribers.Get',
  accountKey: 'can_read_analytics',
  errors: {
    4: 'List not found',
    6: 'Invalid status (subscribed, unsubscribed or pending)',
    8: 'Invalid limit (1-100)',
    9: 'Invalid page (1 or more)',
    429: 'Too many requests',
  },
  rateLimit: { durationSec: 60 },
  httpStatus: { 4: 404, 99998: 401, 99999: 403 },
  async run(p, ctx) {
    const userId = ctx.user!.id;
    const status = p.status === undefined ? undefined : CONTACT_STATUS.get(String(p.status).trim().toLowerCase());
    if (p.status !== undefined && !status) throw new CommandError(6);
    let lists: number[];
    if (p.listid !== undefined) {
      const list = await findOwnedList(ctx.db, userId, p.listid);
      if (!list) throw new CommandError(4);
      lists = [Number(list.id)];
    } else lists = ((await ctx.db('lists').where({ user_id: userId }).pluck('id')) as unknown[]).map(Number);
    const limit = Number(p.limit ?? 50);
    const page = Number(p.page ?? 1);
    // The total counts every member (0.5 s at 2,000,000 on MariaDB): reused while costly, as account.overview's count
    // is, then squared with the page just read (a reused total must not end a client's paging early).
    const [rows, counted] = await Promise.all([
      contactPage(ctx.db, lists, status, limit, page),
      ctx.store.contactCounts.totalOf(
        `${userId}:${p.listid === undefined ? '*' : lists[0]}:${status ?? '*'}`,
        () => contactTotal(ctx.db, lists, status),
        (err) => ctx.logger.warn('contact total recount failed', { error: (err as Error).message }),
      ),
    ]);
    const [names, values, suppressed] = await Promise.all([
      nameFields(ctx.db, [...new Set(rows.map((r) => Number(r.list_id)))]),
      valuesFor(
        ctx.db,
        rows.map((r) => Number(r.id)),
      ),
      suppressedForOwner(
        ctx.db,
        userId,
        rows.map((r) => r.email),
      ),
    ]);
    const contacts = rows.map((r) => {
      const field = names.get(Number(r.list_id));
      const name = field === undefined ? '' : (values.get(Number(r.id))?.get(field) ?? '');
      return presentContact(r, name, suppressed.has(r.email));
    });
    return { contacts, total: totalWithPage(counted, (page - 1) * limit, limit, rows.length), page };
  },
});
