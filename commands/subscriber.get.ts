/**
 * subscriber.get — one member of the caller's list by SubscriberID or EmailAddress, with its custom fields and
 * whether the address is suppressed on any of the caller's sender domains.
 * Errors (arrays): 1 missing EmailAddress/SubscriberID, 2 missing ListID, 3 subscriber not found, 4 invalid
 * ListID (another user's list included).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedList } from '../src/lists/lists';
import { fieldsOf, valuesFor } from '../src/lists/fields';
import { findSubscriber, presentSubscriber, suppressedForOwner } from '../src/lists/subscribers';

export default defineCommand({
  name: 'subscriber.get',
  auth: 'user',
  permission: 'Subscribers.Get',
  arrayErrors: true,
  errors: {
    1: 'Missing EmailAddress/SubscriberID parameter',
    2: 'Missing ListID parameter',
    3: 'Subscriber not found',
    4: 'Invalid ListID',
  },
  async run(p, ctx) {
    const codes = [p.subscriberid === undefined && !p.emailaddress ? 1 : 0, p.listid === undefined ? 2 : 0].filter(Boolean);
    if (codes.length) throw new CommandError(codes);
    const list = await findOwnedList(ctx.db, ctx.user!.id, p.listid);
    if (!list) throw new CommandError([4]);
    const row = await findSubscriber(ctx.db, list.id, p.subscriberid !== undefined ? { id: Number(p.subscriberid) } : { email: String(p.emailaddress) });
    if (!row || (p.subscriberid !== undefined && p.emailaddress && row.email !== String(p.emailaddress).trim().toLowerCase())) throw new CommandError([3]);
    const [fields, values, suppressed] = await Promise.all([
      fieldsOf(ctx.db, list.id),
      valuesFor(ctx.db, [row.id]),
      suppressedForOwner(ctx.db, ctx.user!.id, [row.email]),
    ]);
    return {
      SubscriberInformation: presentSubscriber(row, fields, values.get(Number(row.id))),
      Suppressed: suppressed.has(row.email),
      SubscriberTags: [],
      SubscriberSegments: [],
      SubscriberJourneys: { InProgress: [], Completed: [] },
      SubscriberWebsiteEvents: [],
      SubscriberActivity: [],
      TotalRevenue: 0,
    };
  },
});
