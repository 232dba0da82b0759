/** emailgateway.adddomain — register a sender domain. Errors: 1 missing DomainName, 2 invalid/taken name, 3 domain limit, 4 bad Subdomain/TrackPrefix/TrackMerge. */
import { defineCommand } from '../src/command';
import { isUniqueViolation } from '../src/db';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { lockUserRow, newDomainFields } from '../src/domains/create';
import { DomainRow, presentDomain, STATUS } from '../src/domains/domains';
import { composeHosts, hostsAreValid, normalizeDomain } from '../src/domains/names';

const TAKEN = 'Domain is already registered by another account';

export default defineCommand({
  name: 'emailgateway.adddomain',
  auth: 'user',
  permission: 'EmailGateway.AddDomain',
  arrayErrors: true,
  errors: {
    1: 'Missing required parameter (DomainName)',
    2: 'Invalid domain name format',
    3: 'Maximum sender domains limit reached for user',
    4: 'Invalid subdomain or track prefix value',
  },
  async run(p, ctx) {
    const user = ctx.user!;
    const domain = normalizeDomain(String(p.domainname));
    if (!domain) throw new CommandError([2]);
    const settings = {
      domain,
      subdomain: p.subdomain ? String(p.subdomain).toLowerCase() : null,
      track_prefix: p.trackprefix ? String(p.trackprefix).toLowerCase() : null,
      track_merge: p.trackmerge === undefined || p.trackmerge === '' ? null : String(p.trackmerge),
      track_prefix_disabled: p.trackprefixdisabled === undefined ? false : truthy(p.trackprefixdisabled),
    };
    if (!hostsAreValid(composeHosts(settings, ctx.config))) throw new CommandError([4]);
    // Cheap refusal before the (costly) key generation; the transaction below checks again.
    const owner = await ctx.db('sender_domains').where({ domain }).first('user_id');
    if (owner && Number(owner.user_id) !== user.id) throw new CommandError([2], TAKEN);

    const fields = await newDomainFields(ctx, settings);
    const now = Date.now();
    let id: number;
    try {
      id = await ctx.db.transaction(async (trx) => {
        await lockUserRow(trx, user.id);
        const existing = await trx('sender_domains').where({ domain }).first('id', 'user_id');
        if (existing && Number(existing.user_id) !== user.id) throw new CommandError([2], TAKEN);
        if (existing) {
          // Re-adding one's own domain starts it over: new settings, new key, back to Approval Pending.
          await trx('sender_domains').where({ id: existing.id }).update({ ...settings, ...fields, status: STATUS.pending, last_verified_at: null, updated_at: now });
          return Number(existing.id);
        }
        const limit = Number(user.limit_sender_domains);
        if (limit > 0) {
          const [{ n }] = await trx('sender_domains').where({ user_id: user.id }).count({ n: '*' });
          if (Number(n) >= limit) throw new CommandError([3]);
        }
        const [newId] = await trx('sender_domains').insert({ ...settings, ...fields, user_id: user.id, status: STATUS.pending, created_at: now, updated_at: now });
        return Number(newId);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new CommandError([2], TAKEN);
      throw err;
    }
    const row: DomainRow = await ctx.db('sender_domains').where({ id }).first();
    return { NewSenderDomainID: id, Domain: presentDomain(row, ctx.config) };
  },
});
