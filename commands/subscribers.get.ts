/**
 * subscribers.get — a page of one of the caller's lists (SubscriberListID or ListID). SubscriberSegment filters:
 * All (default), Active/Subscribed, Unsubscribed, Opt-In Pending, Suppressed (on any of the caller's sender
 * domains). SearchKeyword matches the email address. Each row says whether its address is suppressed.
 * Errors (scalar): 1 missing list id, 3 invalid list (another user's included), 5 invalid SubscriberSegment,
 * 6 invalid RecordsPerRequest/RecordsFrom, 7 invalid OrderField/OrderType, 8 invalid SearchKeyword.
 */
import type { Knex } from 'knex';
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedList } from '../src/lists/lists';
import { fieldsOf, valuesFor } from '../src/lists/fields';
import { presentSubscriber, STATUS, SubscriberRow, suppressedForOwner } from '../src/lists/subscribers';
import { totalWithPage } from '../src/lists/contacts';
import { containsPattern } from '../src/db';

const SEGMENTS = new Map<string, string | null>([
  ['all', null],
  ['active', STATUS.subscribed],
  ['subscribed', STATUS.subscribed],
  ['unsubscribed', STATUS.unsubscribed],
  ['optinpending', STATUS.pending],
  ['suppressed', 'suppressed'],
]);
const ORDER = new Map([
  ['emailaddress', 'email'],
  ['subscriberid', 'id'],
  ['subscriptiondate', 'subscription_date'],
]);

export default defineCommand({
  name: 'subscribers.get',
  auth: 'user',
  permission: 'Subscribers.Get',
  errors: {
    1: 'Missing SubscriberListID parameter',
    3: 'Invalid ListID or list does not belong to user',
    5: 'Invalid SubscriberSegment (All, Active, Unsubscribed, Opt-In Pending or Suppressed)',
    6: 'Invalid RecordsPerRequest (1-1000) or RecordsFrom (0 or more)',
    7: 'Invalid OrderField (EmailAddress, SubscriberID, SubscriptionDate) or OrderType (ASC, DESC)',
    8: 'Invalid SearchKeyword',
  },
  async run(p, ctx) {
    const listId = p.subscriberlistid ?? p.listid;
    if (listId === undefined) throw new CommandError(1);
    const segmentKey = String(p.subscribersegment ?? 'All')
      .toLowerCase()
      .replace(/[\s_-]+/g, '');
    if (!SEGMENTS.has(segmentKey)) throw new CommandError(5);
    const segment = SEGMENTS.get(segmentKey)!;
    const column = ORDER.get(String(p.orderfield ?? 'EmailAddress').toLowerCase());
    if (!column) throw new CommandError(7);
    const userId = ctx.user!.id;
    const list = await findOwnedList(ctx.db, userId, listId);
    if (!list) throw new CommandError(3);

    const q = ctx.db('subscribers as s').where('s.list_id', list.id);
    if (segment === 'suppressed') {
      q.whereExists(function (this: Knex.QueryBuilder) {
        this.select(ctx.db.raw('1'))
          .from('suppressions as x')
          .join('sender_domains as d', 'd.id', 'x.domain_id')
          .where('d.user_id', userId)
          .whereRaw('x.email = s.email');
      });
    } else if (segment) q.where('s.status', segment);
    if (p.searchkeyword) q.whereRaw(`s.email like ? escape '!'`, [containsPattern(String(p.searchkeyword).toLowerCase())]);
    const perRequest = Number(p.recordsperrequest ?? 0) || 25;
    const recordsFrom = Number(p.recordsfrom ?? 0);
    const direction = String(p.ordertype ?? 'ASC').toUpperCase() === 'DESC' ? 'desc' : 'asc';
    // Each order is one the list's indexes give a page at a time (bench/subscriber-pages.ts): an address is unique in
    // its list, so it needs no tiebreak (with one, MariaDB sorted the whole list: 1.6 s at 1,000,000 members); equal
    // dates go by id in the same direction, as (list_id, subscription_date) holds them.
    const tiebreak = column === 'subscription_date' ? [{ column: 's.id', order: direction }] : [];
    // The total counts the whole segment (a 1,000,000-member list: see bench/subscriber-pages.ts): reused while costly,
    // as contacts.list's is, and squared with the page read here.
    const [rows, counted] = await Promise.all([
      q
        .clone()
        .select('s.*')
        .orderBy([{ column: `s.${column}`, order: direction }, ...tiebreak])
        .limit(perRequest)
        .offset(recordsFrom) as Promise<SubscriberRow[]>,
      ctx.store.contactCounts.totalOf(
        `list:${list.id}:${segmentKey}:${String(p.searchkeyword ?? '').toLowerCase()}`,
        async () => Number(((await q.clone().count({ n: '*' })) as { n: unknown }[])[0].n),
        (err) => ctx.logger.warn('subscriber total recount failed', { error: (err as Error).message }),
      ),
    ]);
    const ids = rows.map((r) => Number(r.id));
    const [fields, values, suppressed] = await Promise.all([
      fieldsOf(ctx.db, list.id),
      valuesFor(ctx.db, ids),
      suppressedForOwner(
        ctx.db,
        userId,
        rows.map((r) => r.email),
      ),
    ]);
    return {
      ErrorText: '',
      Subscribers: rows.map((r) => presentSubscriber(r, fields, values.get(Number(r.id)), suppressed.has(r.email))),
      TotalSubscribers: totalWithPage(counted, recordsFrom, perRequest, rows.length),
    };
  },
});
