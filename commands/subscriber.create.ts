/**
 * subscriber.create — add an address to one of the caller's lists, or update it with UpdateIfDuplicate.
 * Octeth's codes (scalar ErrorCode plus Errors[]): 1/4 ListID missing/unknown (another user's included),
 * 2/3 EmailAddress missing/invalid, 6 Status, 7/8 SubscriptionDate invalid/missing, 9/10 SubscriptionIP
 * missing/invalid, 11/13 UnsubscriptionDate missing/invalid, 12/14 UnsubscriptionIP missing/invalid,
 * 17 unknown custom field, non-text value or one over 65,535 bytes, 20 duplicate, 21 previously unsubscribed.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { isEmail, isIp } from '../src/auth/user-fields';
import { findOwnedList } from '../src/lists/lists';
import { fieldsOf, saveValues, submittedValues, valuesFor } from '../src/lists/fields';
import {
  insertSubscriber,
  normalizeStatus,
  parseOctethDate,
  presentSubscriber,
  SOURCES,
  STATUS,
  SubscriberRow,
  suppressedForOwner,
} from '../src/lists/subscribers';

const ERRORS: Record<number, string> = {
  1: 'Missing ListID parameter',
  2: 'Missing EmailAddress parameter',
  3: 'Invalid EmailAddress',
  4: 'Invalid ListID',
  6: 'Invalid Status value (Subscribed, Unsubscribed or Opt-In Pending)',
  7: 'Invalid SubscriptionDate value (Y-m-d or Y-m-d H:i:s)',
  8: 'Missing SubscriptionDate parameter (required for Subscribed and Opt-In Pending)',
  9: 'Missing SubscriptionIP parameter (required for Subscribed and Opt-In Pending)',
  10: 'Invalid SubscriptionIP value',
  11: 'Missing UnsubscriptionDate parameter (required for Unsubscribed)',
  12: 'Missing UnsubscriptionIP parameter (required for Unsubscribed)',
  13: 'Invalid UnsubscriptionDate value (Y-m-d or Y-m-d H:i:s)',
  14: 'Invalid UnsubscriptionIP value',
  17: 'Invalid Custom Field value (unknown field id for this list, not a text value, or over 65,535 bytes)',
  20: 'Duplicate EmailAddress (send UpdateIfDuplicate=true to update it)',
  21: 'Previously unsubscribed EmailAddress (send UpdateIfUnsubscribed=true to update it)',
};

/** Octeth answers this command with a scalar ErrorCode and an Errors[] beside it. */
function fail(code: number, text = ERRORS[code]): CommandError {
  const err = new CommandError(code, text);
  err.extra = { Errors: [{ Code: code, Message: text }] };
  return err;
}

const present = (v: unknown) => v !== undefined && v !== null && String(v).trim() !== '';

/** Status, dates and addresses as columns; throws the first failing code in Octeth's order. */
function statusColumns(p: Record<string, unknown>, status: string): Partial<SubscriberRow> {
  if (status === STATUS.unsubscribed) {
    if (!present(p.unsubscriptiondate)) throw fail(11);
    if (!present(p.unsubscriptionip)) throw fail(12);
    const at = parseOctethDate(p.unsubscriptiondate);
    if (at === undefined) throw fail(13);
    if (!isIp(String(p.unsubscriptionip).trim())) throw fail(14);
    return { status, unsubscription_date: at, unsubscription_ip: String(p.unsubscriptionip).trim() };
  }
  if (!present(p.subscriptiondate)) throw fail(8);
  const at = parseOctethDate(p.subscriptiondate);
  if (at === undefined) throw fail(7);
  if (!present(p.subscriptionip)) throw fail(9);
  if (!isIp(String(p.subscriptionip).trim())) throw fail(10);
  return { status, subscription_date: at, subscription_ip: String(p.subscriptionip).trim() };
}

export default defineCommand({
  name: 'subscriber.create',
  auth: 'user',
  permission: 'Subscribers.Import',
  errors: ERRORS,
  async run(p, ctx) {
    if (!present(p.listid)) throw fail(1);
    if (!present(p.emailaddress)) throw fail(2);
    const email = String(p.emailaddress).trim().toLowerCase();
    if (!isEmail(email)) throw fail(3);
    const status = p.status === undefined ? STATUS.subscribed : normalizeStatus(p.status);
    if (!status) throw fail(6);
    const cols = statusColumns(p, status);
    const list = await findOwnedList(ctx.db, ctx.user!.id, p.listid);
    if (!list) throw fail(4);
    const fields = await fieldsOf(ctx.db, list.id);
    const submitted = submittedValues({ customfields: p.customfields }, fields);
    if (submitted.unknown.length || submitted.badValue) throw fail(17);
    const source = p.source === undefined ? 'API' : (SOURCES.find((s) => s.toLowerCase() === String(p.source).trim().toLowerCase()) ?? 'Unknown');

    const now = Date.now();
    const base = {
      list_id: list.id,
      email,
      subscription_date: null,
      subscription_ip: '',
      unsubscription_date: null,
      unsubscription_ip: '',
      source,
      created_at: now,
      updated_at: now,
    };
    const outcome = await insertSubscriber(ctx.db, { ...base, ...cols } as Omit<SubscriberRow, 'id'>, submitted.values);
    let id: number;
    if ('duplicate' in outcome) {
      const existing = outcome.duplicate;
      if (!truthy(p.updateifduplicate)) throw fail(20);
      if (existing.status === STATUS.unsubscribed && !truthy(p.updateifunsubscribed)) throw fail(21);
      id = Number(existing.id);
      await ctx.db.transaction(async (trx) => {
        await trx('subscribers')
          .where({ id, list_id: list.id })
          .update({ ...cols, source, updated_at: now });
        await saveValues(trx, id, submitted.values);
      });
    } else id = outcome.id;

    const row: SubscriberRow = await ctx.db('subscribers').where({ id, list_id: list.id }).first();
    const [values, suppressed] = await Promise.all([valuesFor(ctx.db, [id]), suppressedForOwner(ctx.db, ctx.user!.id, [email])]);
    return {
      SubscriberInformation: presentSubscriber(row, fields, values.get(id)),
      Suppressed: suppressed.has(email),
      SubscriberTags: [],
      SubscriberSegments: [],
      SubscriberJourneys: [],
      SubscriberWebsiteEvents: [],
    };
  },
});
