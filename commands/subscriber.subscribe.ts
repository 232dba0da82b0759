/**
 * subscriber.subscribe (no auth: subscription forms) — add an address to a list (ListID may be comma-separated;
 * custom fields `CustomField<N>` go to the first list). Double opt-in lists store `Opt-In Pending` (no
 * confirmation email is sent by this server). An unsubscribed address may subscribe again.
 * Errors (scalar): 1 missing ListID, 2 missing EmailAddress, 3 missing IPAddress, 4 invalid ListID, 5 invalid
 * EmailAddress, 8 invalid custom field (unknown id, not text, or over 65,535 bytes), 9 already subscribed, 10 subscription failed.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isEmail, isIp } from '../src/auth/user-fields';
import type { ListRow } from '../src/lists/lists';
import { fieldsOf, saveValues, submittedValues } from '../src/lists/fields';
import { insertSubscriber, SOURCES, STATUS, SubscriberRow } from '../src/lists/subscribers';

const MAX_LISTS = 20;
const present = (v: unknown) => v !== undefined && v !== null && String(v).trim() !== '';

export default defineCommand({
  name: 'subscriber.subscribe',
  auth: 'none',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing ListID parameter',
    2: 'Missing EmailAddress parameter',
    3: 'Missing IPAddress parameter',
    4: 'Invalid ListID',
    5: 'Invalid EmailAddress',
    8: 'Invalid custom field value (unknown CustomField<N> for this list, not a text value, or over 65,535 bytes)',
    9: 'Duplicate email address: already subscribed to this list',
    10: 'Subscription failed: the IPAddress is not a valid IP address',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    if (!present(p.listid)) throw new CommandError(1);
    if (!present(p.emailaddress)) throw new CommandError(2);
    if (!present(p.ipaddress)) throw new CommandError(3);
    const parts = String(p.listid)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!parts.length || parts.some((s) => !/^\d{1,10}$/.test(s))) throw new CommandError(4);
    const ids = [...new Set(parts.map(Number))];
    if (ids.length > MAX_LISTS) throw new CommandError(4, `Invalid ListID: at most ${MAX_LISTS} lists at once`);
    // A disabled account's lists take no new subscribers (as if absent: its forms keep the same answer for every
    // list it does not serve); unsubscribing from them still works, as a recipient's way out must.
    const lists: ListRow[] = await ctx
      .db('lists')
      .whereIn('id', ids)
      .whereExists(ctx.db('users').whereRaw('?? = ??', ['users.id', 'lists.user_id']).where('account_status', 'Enabled').select(ctx.db.raw('1')));
    if (lists.length !== ids.length) throw new CommandError(4);
    const email = String(p.emailaddress).trim().toLowerCase();
    if (!isEmail(email)) throw new CommandError(5);
    const ip = String(p.ipaddress).trim();
    if (!isIp(ip)) throw new CommandError(10);
    const first = lists.find((l) => Number(l.id) === ids[0])!;
    const submitted = submittedValues(Object.fromEntries(Object.entries(p).filter(([k]) => /^customfield\d+$/.test(k))), await fieldsOf(ctx.db, first.id));
    if (submitted.unknown.length || submitted.badValue) throw new CommandError(8);
    const source = p.source === undefined ? 'API' : (SOURCES.find((s) => s.toLowerCase() === String(p.source).trim().toLowerCase()) ?? 'Unknown');

    const now = Date.now();
    const results: SubscriberRow[] = [];
    for (const list of ids.map((id) => lists.find((l) => Number(l.id) === id)!)) {
      const status = list.opt_in_mode === 'Double' ? STATUS.pending : STATUS.subscribed;
      const values = list === first ? submitted.values : new Map<number, string>();
      const cols = {
        list_id: list.id,
        email,
        status,
        subscription_date: now,
        subscription_ip: ip,
        unsubscription_date: null,
        unsubscription_ip: '',
        source,
        created_at: now,
        updated_at: now,
      };
      const outcome = await insertSubscriber(ctx.db, cols, values);
      if ('duplicate' in outcome) {
        const existing = outcome.duplicate;
        if (existing.status !== STATUS.unsubscribed) {
          if (ids.length === 1) throw new CommandError(9);
          results.push(existing);
          continue;
        }
        await ctx.db.transaction(async (trx) => {
          await trx('subscribers')
            .where({ id: existing.id, list_id: list.id })
            .update({ status, subscription_date: now, subscription_ip: ip, unsubscription_date: null, unsubscription_ip: '', updated_at: now });
          await saveValues(trx, Number(existing.id), values);
        });
        results.push({ ...existing, status });
      } else results.push({ ...cols, id: outcome.id } as SubscriberRow);
    }
    const head = results[0];
    return {
      SubscriberID: Number(head.id),
      RedirectURL: '',
      Subscriber: { SubscriberID: Number(head.id), EmailAddress: email, SubscriptionStatus: head.status },
    };
  },
});
