/**
 * suppression.whitelist.set — replace the account's whitelist (upstream's WhiteListedEmailAddresses): addresses
 * whose hard bounces (at delivery or by a later DSN) and soft bounces never suppress them, nor an import. A complaint
 * still does: the recipient asked for no more mail. Entries as a JSON array or newline text; `*` is a
 * wildcard (regular expressions are not taken: they would run inside the delivery worker). At most 1,000.
 * Errors (array): 1 Entries missing or malformed, 2 an entry is not an address pattern, 3 too many.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { addressInput } from '../src/suppression/scopes';

export default defineCommand({
  name: 'suppression.whitelist.set',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  arrayErrors: true,
  errors: { 1: 'Missing or malformed Entries', 2: 'Each entry must be an email address, optionally with * wildcards', 3: 'At most 1,000 entries' },
  async run(p, ctx) {
    if (p.entries === undefined) throw new CommandError([1]);
    const { list, malformedJson } = Array.isArray(p.entries) ? addressInput(p.entries, undefined) : addressInput(undefined, p.entries);
    if (malformedJson) throw new CommandError([1]);
    const entries = [...new Set(list.map((e) => e.toLowerCase()))];
    if (entries.some((e) => e.length > 191 || !/^[^\s@]*@[^\s@]+$|^\*$/.test(e))) throw new CommandError([2]);
    if (entries.length > 1000) throw new CommandError([3]);
    await ctx.db.transaction(async (trx) => {
      await trx('suppression_whitelist').where({ user_id: ctx.user!.id }).delete();
      for (let i = 0; i < entries.length; i += 500)
        await trx('suppression_whitelist').insert(entries.slice(i, i + 500).map((entry) => ({ user_id: ctx.user!.id, entry })));
    });
    return { Entries: entries.sort() };
  },
});
