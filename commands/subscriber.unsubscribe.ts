/**
 * subscriber.unsubscribe (no auth: unsubscribe pages) — mark a list member Unsubscribed. Without credentials
 * the caller must name the address: ListID + EmailAddress (a SubscriberID, if sent too, must match it; a
 * SubscriberID alone is refused). Preview=1 checks without changing anything. AddToGlobalSuppression is
 * ignored here: an anonymous caller must not block an address's transactional mail on the owner's domains.
 * No message is involved, so no event is recorded. Bulk RulesJSON is not supported (7).
 * Errors (scalar): 1 missing ListID, 2 missing IPAddress, 3 missing EmailAddress, 4 invalid ListID,
 * 6 invalid EmailAddress, 7 subscriber not found (or RulesJSON sent), 9 already unsubscribed, 10 invalid IPAddress.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { isEmail, isIp } from '../src/auth/user-fields';
import type { ListRow } from '../src/lists/lists';
import { findSubscriber, STATUS } from '../src/lists/subscribers';

const present = (v: unknown) => v !== undefined && v !== null && String(v).trim() !== '';

export default defineCommand({
  name: 'subscriber.unsubscribe',
  auth: 'none',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing ListID parameter',
    2: 'Missing IPAddress parameter',
    3: 'Missing EmailAddress parameter (a SubscriberID alone is not accepted without authentication)',
    4: 'Invalid ListID',
    6: 'Invalid EmailAddress',
    7: 'Subscriber not found',
    9: 'Subscriber already unsubscribed',
    10: 'Invalid IPAddress',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    if (!present(p.listid)) throw new CommandError(1);
    if (!present(p.ipaddress)) throw new CommandError(2);
    if (present(p.rulesjson)) throw new CommandError(7, 'RulesJSON (bulk unsubscription) is not supported: name one EmailAddress');
    if (!present(p.emailaddress)) throw new CommandError(3);
    const listId = Number(String(p.listid).trim());
    const list: ListRow | undefined = Number.isInteger(listId) && listId > 0 ? await ctx.db('lists').where({ id: listId }).first() : undefined;
    if (!list) throw new CommandError(4);
    const email = String(p.emailaddress).trim().toLowerCase();
    if (!isEmail(email)) throw new CommandError(6);
    const ip = String(p.ipaddress).trim();
    if (!isIp(ip)) throw new CommandError(10);
    const row = await findSubscriber(ctx.db, list.id, { email });
    if (!row || (present(p.subscriberid) && Number(p.subscriberid) !== Number(row.id))) throw new CommandError(7);
    if (row.status === STATUS.unsubscribed) throw new CommandError(9);
    if (p.preview !== undefined && truthy(p.preview)) return { RedirectURL: '' };
    const now = Date.now();
    await ctx
      .db('subscribers')
      .where({ id: row.id, list_id: list.id })
      .update({ status: STATUS.unsubscribed, unsubscription_date: now, unsubscription_ip: ip, updated_at: now });
    return { RedirectURL: '' };
  },
});
