/**
 * subscriber.update — change a member of the caller's list: EmailAddress, SubscriptionStatus, custom fields
 * (`Fields: {"CustomField<N>": v}` or `CustomFields: {"<N>": v}`). Errors (scalar): 1 missing SubscriberID,
 * 2 missing SubscriberListID, 3 empty EmailAddress, 4 invalid EmailAddress, 5 invalid list (another user's
 * included), 6 subscriber not found, 7 duplicate EmailAddress, 10 invalid custom field value, 11 unknown
 * custom field ids (listed in ErrorCustomFieldIDs), 12 invalid SubscriptionStatus, 13 invalid UnsubscriptionIP.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isUniqueViolation } from '../src/db';
import { isEmail, isIp } from '../src/auth/user-fields';
import { findOwnedList } from '../src/lists/lists';
import { fieldsOf, saveValues, submittedValues, valuesFor } from '../src/lists/fields';
import { findSubscriber, normalizeStatus, presentSubscriber, STATUS, SubscriberRow } from '../src/lists/subscribers';

export default defineCommand({
  name: 'subscriber.update',
  auth: 'user',
  permission: 'Subscriber.Update',
  errors: {
    1: 'Missing SubscriberID parameter',
    2: 'Missing SubscriberListID parameter',
    3: 'Missing EmailAddress parameter (it may not be empty)',
    4: 'Invalid EmailAddress',
    5: 'Invalid ListID',
    6: 'Subscriber not found',
    7: 'Duplicate EmailAddress: another member of the list has it',
    10: 'Invalid custom field value (not a text value, or over 65,535 bytes)',
    11: 'Unknown custom field ID(s)',
    12: 'Invalid SubscriptionStatus (Subscribed, Unsubscribed or Opt-In Pending)',
    13: 'Invalid UnsubscriptionIP',
  },
  async run(p, ctx) {
    if (p.subscriberid === undefined) throw new CommandError(1);
    const listId = p.subscriberlistid ?? p.listid;
    if (listId === undefined) throw new CommandError(2);
    const cols: Partial<SubscriberRow> = {};
    if (p.emailaddress !== undefined) {
      const email = String(p.emailaddress).trim().toLowerCase();
      if (!email) throw new CommandError(3);
      if (!isEmail(email)) throw new CommandError(4);
      cols.email = email;
    }
    const list = await findOwnedList(ctx.db, ctx.user!.id, listId);
    if (!list) throw new CommandError(5);
    const row = await findSubscriber(ctx.db, list.id, { id: Number(p.subscriberid) });
    if (!row) throw new CommandError(6);
    const now = Date.now();
    if (p.subscriptionstatus !== undefined) {
      const status = normalizeStatus(p.subscriptionstatus);
      if (!status) throw new CommandError(12);
      cols.status = status;
      if (status === STATUS.unsubscribed && row.status !== status) {
        const ip = p.unsubscriptionip === undefined ? '' : String(p.unsubscriptionip).trim();
        if (ip && !isIp(ip)) throw new CommandError(13);
        Object.assign(cols, { unsubscription_date: now, unsubscription_ip: ip });
      }
      if (status !== STATUS.unsubscribed && row.status === STATUS.unsubscribed) Object.assign(cols, { unsubscription_date: null, unsubscription_ip: '' });
      if (status === STATUS.subscribed && row.subscription_date === null) cols.subscription_date = now;
    }
    const fields = await fieldsOf(ctx.db, list.id);
    const submitted = submittedValues({ fields: p.fields, customfields: p.customfields }, fields);
    if (submitted.unknown.length) {
      const err = new CommandError(11);
      err.extra = { ErrorCustomFieldIDs: submitted.unknown };
      throw err;
    }
    if (submitted.badValue) throw new CommandError(10);
    try {
      await ctx.db.transaction(async (trx) => {
        await trx('subscribers')
          .where({ id: row.id, list_id: list.id })
          .update({ ...cols, updated_at: now });
        await saveValues(trx, Number(row.id), submitted.values);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new CommandError(7);
      throw err;
    }
    const fresh = (await findSubscriber(ctx.db, list.id, { id: Number(row.id) }))!;
    const values = await valuesFor(ctx.db, [Number(row.id)]);
    return { ErrorText: '', SubscriberInformation: presentSubscriber(fresh, fields, values.get(Number(row.id))) };
  },
});
