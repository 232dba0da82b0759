/**
 * user.webhook.receive (no auth; POST or GET /system/webhook/<HashedID>) — what an inbound list webhook does when an
 * outside system calls it: Subscription adds EmailAddress to the webhook's list as Subscribed, or Opt-In Pending on
 * a Double opt-in list, as subscriber.subscribe does (again, if it had unsubscribed; `CustomField<N>` values go with it); Unsubscription marks it Unsubscribed on that list, or on every
 * list of the owner with UnsubscribeAll. Each call is counted in user.webhook.stats.
 * Errors (scalar): 1 unknown HashedID, 2 missing EmailAddress, 3 invalid EmailAddress, 4 invalid custom field.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { sha256hex } from '../src/auth/secrets';
import { isEmail } from '../src/auth/user-fields';
import { fieldsOf, saveValues, submittedValues } from '../src/lists/fields';
import { insertSubscriber, STATUS } from '../src/lists/subscribers';
import { countRequest, ListWebhookRow } from '../src/lists/webhooks';

export default defineCommand({
  name: 'user.webhook.receive',
  auth: 'none',
  rateLimit: { durationSec: 60 },
  keepsCredentialCaches: true,
  errors: { 1: 'Unknown webhook', 2: 'Missing EmailAddress parameter', 3: 'Invalid EmailAddress', 4: 'Invalid custom field value', 429: 'Too many requests' },
  httpStatus: { 1: 404 },
  async run(p, ctx) {
    const hook: ListWebhookRow | undefined = await ctx
      .db('list_webhooks')
      .where({ secret_hash: sha256hex(String(p.hashedid ?? '').trim()) })
      .first();
    if (!hook) throw new CommandError(1);
    const fail = async (code: number) => {
      await countRequest(ctx.db, hook.id, false);
      return new CommandError(code);
    };
    const raw = p.emailaddress ?? p.email;
    if (raw === undefined || String(raw).trim() === '') throw await fail(2);
    const email = String(raw).trim().toLowerCase();
    if (!isEmail(email)) throw await fail(3);
    const now = Date.now();
    let subscriberId: number | null = null;
    if (hook.event === 'Subscription') {
      // A disabled account's webhook adds nobody (its Unsubscription webhooks still take people off its lists).
      const owner = await ctx.db('users').where({ id: hook.user_id }).first('account_status');
      if (owner?.account_status !== 'Enabled') throw await fail(1);
      const submitted = submittedValues(
        Object.fromEntries(Object.entries(p).filter(([k]) => /^customfield\d+$/.test(k))),
        await fieldsOf(ctx.db, hook.list_id),
      );
      if (submitted.unknown.length || submitted.badValue) throw await fail(4);
      // A Double opt-in list confirms its members: whoever holds the webhook's URL (a public signup form posts to it)
      // must not add confirmed ones, as subscriber.subscribe may not.
      const list = await ctx.db('lists').where({ id: hook.list_id }).first('opt_in_mode');
      const status = list?.opt_in_mode === 'Double' ? STATUS.pending : STATUS.subscribed;
      const cols = {
        list_id: hook.list_id,
        email,
        status,
        subscription_date: now,
        subscription_ip: ctx.ip,
        unsubscription_date: null,
        unsubscription_ip: '',
        source: 'Webhook',
        created_at: now,
        updated_at: now,
      };
      const outcome = await insertSubscriber(ctx.db, cols, submitted.values);
      if ('duplicate' in outcome) {
        subscriberId = Number(outcome.duplicate.id);
        await ctx.db.transaction(async (trx) => {
          // An unsubscribed member subscribes again (pending again on a Double list); a confirmed one stays confirmed.
          if (outcome.duplicate.status !== STATUS.subscribed && outcome.duplicate.status !== status) {
            await trx('subscribers')
              .where({ id: subscriberId!, list_id: hook.list_id })
              .update({ status, subscription_date: now, subscription_ip: ctx.ip, unsubscription_date: null, unsubscription_ip: '', updated_at: now });
          }
          await saveValues(trx, subscriberId!, submitted.values);
        });
      } else subscriberId = outcome.id;
    } else {
      const lists = Number(hook.unsubscribe_all) ? ctx.db('lists').where({ user_id: hook.user_id }).select('id') : [hook.list_id];
      await ctx
        .db('subscribers')
        .whereIn('list_id', lists)
        .where({ email })
        .whereNot({ status: STATUS.unsubscribed })
        .update({ status: STATUS.unsubscribed, unsubscription_date: now, unsubscription_ip: ctx.ip, updated_at: now });
    }
    await countRequest(ctx.db, hook.id, true);
    return { Event: hook.event, EmailAddress: email, ...(subscriberId === null ? {} : { SubscriberID: subscriberId }) };
  },
});
