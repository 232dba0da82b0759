/**
 * emailgateway.adddomain — register a sender domain. Errors: 1 missing DomainName, 2 invalid/taken name, 3 domain
 * limit, 4 bad Subdomain/TrackPrefix/TrackMerge, 5 the caller's own domain of this name is being deleted.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { DomainRow, presentDomain } from '../src/domains/domains';
import { createDomain, DomainError, TAKEN_TEXT } from '../src/domains/manage';
import { normalizeDomain } from '../src/domains/names';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

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
    5: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 5: 409 },
  async run(p, ctx) {
    const domain = normalizeDomain(String(p.domainname));
    if (!domain) throw new CommandError([2]);
    let id: number;
    try {
      id = await createDomain(ctx, {
        domain,
        subdomain: p.subdomain ? String(p.subdomain).toLowerCase() : null,
        track_prefix: p.trackprefix ? String(p.trackprefix).toLowerCase() : null,
        track_merge: p.trackmerge === undefined || p.trackmerge === '' ? null : String(p.trackmerge),
        track_prefix_disabled: p.trackprefixdisabled === undefined ? false : truthy(p.trackprefixdisabled),
      });
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      if (err.reason === 'taken') throw new CommandError([2], TAKEN_TEXT);
      throw new CommandError([err.reason === 'limit' ? 3 : err.reason === 'deleting' ? 5 : 4]);
    }
    const row: DomainRow = await ctx.db('sender_domains').where({ id }).first();
    return { NewSenderDomainID: id, Domain: presentDomain(row, ctx.config) };
  },
});
