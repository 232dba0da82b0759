/**
 * suppression.whitelist.set — replace the account's whitelist (upstream's WhiteListedEmailAddresses): addresses
 * whose bounces and complaints never suppress them, nor an import. Entries as a JSON array or newline text; `*` is a
 * wildcard (regular expressions are not taken: they would run inside the delivery worker). At most 1,000.
 * Errors (array): 1 Entries missing or malformed, 2 an entry is not an address pattern, 3 too many, 4 a new entry while
 * one of the account's domains is suspended (removing entries stays allowed): a whitelisted address is never
 * suppressed, so growing the list then would let the lift mail bouncing addresses again unchecked.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isMysql } from '../src/db';
import { STATUS } from '../src/domains/domains';
import { addressInput } from '../src/suppression/scopes';

export default defineCommand({
  name: 'suppression.whitelist.set',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  arrayErrors: true,
  errors: {
    1: 'Missing or malformed Entries',
    2: 'Each entry must be an email address, optionally with * wildcards',
    3: 'At most 1,000 entries',
    4: "A domain of this account is suspended: the whitelist cannot gain entries until the installation's admin lifts the suspension",
  },
  async run(p, ctx) {
    if (p.entries === undefined) throw new CommandError([1]);
    const { list, malformedJson } = Array.isArray(p.entries) ? addressInput(p.entries, undefined) : addressInput(undefined, p.entries);
    if (malformedJson) throw new CommandError([1]);
    const entries = [...new Set(list.map((e) => e.toLowerCase()))];
    if (entries.some((e) => e.length > 191 || !/^[^\s@]*@[^\s@]+$|^\*$/.test(e))) throw new CommandError([2]);
    if (entries.length > 1000) throw new CommandError([3]);
    await ctx.db.transaction(async (trx) => {
      // Share-locked on MySQL as in deleteOne (src/suppression/handlers.ts): a suspension committed first is seen.
      const q = trx('sender_domains').where({ user_id: ctx.user!.id, status: STATUS.suspended }).first('id');
      if (await (isMysql(trx) ? q.forShare() : q)) {
        const had = new Set((await trx('suppression_whitelist').where({ user_id: ctx.user!.id }).pluck('entry')) as string[]);
        if (entries.some((e) => !had.has(e))) throw new CommandError([4]);
      }
      await trx('suppression_whitelist').where({ user_id: ctx.user!.id }).delete();
      for (let i = 0; i < entries.length; i += 500)
        await trx('suppression_whitelist').insert(entries.slice(i, i + 500).map((entry) => ({ user_id: ctx.user!.id, entry })));
    });
    return { Entries: entries.sort() };
  },
});
