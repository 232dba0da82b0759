/**
 * contacts.create — POST /api/v1/contacts (peer platform shape): `{email, name?, listId, status?}` adds a contact
 * to one of the caller's lists and answers `{id, email, name, status, listId, suppressed, createdAt}`.
 * `name` is stored in the list's `Name` custom field (created on first use). Errors: 1 missing email,
 * 2 invalid email, 3 missing listId, 4 list not found (another user's included; HTTP 404), 5 already on the
 * list (HTTP 409), 6 invalid status (subscribed, unsubscribed, pending), 7 name too long.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isEmail } from '../src/auth/user-fields';
import { findOwnedList } from '../src/lists/lists';
import { insertSubscriber, STATUS, suppressedForOwner } from '../src/lists/subscribers';
import { CONTACT_STATUS, ensureNameField, presentContact } from '../src/lists/contacts';

export default defineCommand({
  name: 'contacts.create',
  auth: 'user',
  permission: 'Subscribers.Import',
  accountKey: 'can_send',
  errors: {
    1: 'Missing email',
    2: 'Invalid email address',
    3: 'Missing listId',
    4: 'List not found',
    5: 'The contact is already on this list',
    6: 'Invalid status (subscribed, unsubscribed or pending)',
    7: 'name is too long (at most 255 characters)',
    429: 'Too many requests',
  },
  rateLimit: { durationSec: 60 },
  httpStatus: { 4: 404, 5: 409, 99998: 401, 99999: 403 },
  async run(p, ctx) {
    const email = String(p.email ?? '')
      .trim()
      .toLowerCase();
    const codes = [!email ? 1 : !isEmail(email) ? 2 : 0, p.listid === undefined ? 3 : 0].filter(Boolean);
    const status = p.status === undefined ? STATUS.subscribed : CONTACT_STATUS.get(String(p.status).trim().toLowerCase());
    if (!status) codes.push(6);
    if (codes.length) throw new CommandError(codes);
    const list = await findOwnedList(ctx.db, ctx.user!.id, p.listid);
    if (!list) throw new CommandError(4);
    const name = p.name === undefined ? '' : String(p.name).trim();
    const values = new Map<number, string>();
    if (name) values.set(await ensureNameField(ctx.db, list.id), name);
    const now = Date.now();
    const unsubscribed = status === STATUS.unsubscribed;
    const row = {
      list_id: list.id,
      email,
      status: status!,
      subscription_date: unsubscribed ? null : now,
      subscription_ip: ctx.ip,
      unsubscription_date: unsubscribed ? now : null,
      unsubscription_ip: '',
      source: 'API',
      created_at: now,
      updated_at: now,
    };
    const outcome = await insertSubscriber(ctx.db, row, values);
    if ('duplicate' in outcome) throw new CommandError(5);
    const suppressed = await suppressedForOwner(ctx.db, ctx.user!.id, [email]);
    return presentContact({ ...row, id: outcome.id }, name, suppressed.has(email));
  },
});
