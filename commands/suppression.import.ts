/**
 * suppression.import — add addresses to one scope (as suppression.browse) with SuppressionSource (default User) and
 * Reason (≤ 250, default "Suppression List Import"). Whitelisted addresses and ones already there are skipped;
 * TotalImported counts new rows only, TotalFailed the malformed addresses. At most MAX_ADDRESSES (50,000) addresses a
 * call, valid or not: a bigger file goes in several calls. Errors (array): 1 and 2 neither input (or malformed
 * EmailAddresses: 2), 3 bad source, 4 bad ListID, 5 over 50,000 addresses (with MaxEmailAddresses, TotalSubmitted).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { addressesOf, scopeOf, sourceFilter } from '../src/suppression/entries';
import { whitelistOf } from '../src/suppression/scopes';

/** A call's work (and its FailedEmailAddresses echo) stays bounded: some seconds of inserts at most. */
const MAX_ADDRESSES = 50_000;

export default defineCommand({
  name: 'suppression.import',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  arrayErrors: true,
  errors: {
    1: 'Missing EmailAddresses parameter',
    2: 'Missing EmailAddressesBulk parameter or invalid EmailAddresses format',
    3: 'Invalid SuppressionSource value',
    4: 'Invalid ListID',
    5: `More than ${MAX_ADDRESSES.toLocaleString('en-US')} addresses: import them in several calls`,
  },
  async run(p, ctx) {
    const input = addressesOf(p);
    if (!input.given) throw new CommandError([1, 2]);
    if (input.malformedJson) throw new CommandError([2]);
    const submitted = input.valid.length + input.failed.length;
    if (submitted > MAX_ADDRESSES) {
      const err = new CommandError([5]);
      err.extra = { MaxEmailAddresses: MAX_ADDRESSES, TotalSubmitted: submitted };
      throw err;
    }
    const source = sourceFilter(p.suppressionsource, 3)?.[0] ?? 'User';
    const scope = await scopeOf(ctx, p);
    const reason = p.reason === undefined ? 'Suppression List Import' : String(p.reason).slice(0, 250);
    const lower = [...new Set(input.valid.map((e) => e.toLowerCase()))];
    const now = Date.now();
    const isWhitelisted = await whitelistOf(ctx.db, scope.userId);
    let imported = 0;
    for (let i = 0; i < lower.length; i += 500) {
      const some = lower.slice(i, i + 500);
      const existing = new Set<string>(await ctx.db('suppression_entries').where({ scope_key: scope.key }).whereIn('email', some).pluck('email'));
      const fresh = some.filter((e) => !existing.has(e) && !isWhitelisted(e));
      if (!fresh.length) continue;
      await ctx
        .db('suppression_entries')
        .insert(
          fresh.map((email) => ({
            scope_key: scope.key,
            list_id: scope.listId,
            user_id: scope.listId ? null : scope.userId,
            email,
            source,
            reason,
            created_at: now,
          })),
        )
        .onConflict(['scope_key', 'email'])
        .ignore();
      imported += fresh.length;
    }
    return { TotalImported: imported, TotalFailed: input.failed.length, FailedEmailAddresses: input.failed };
  },
});
