/**
 * emailgateway.updatedomain — tracking options and host overrides. Changing Subdomain, TrackPrefix, TrackMerge or
 * TrackPrefixDisabled regenerates the DNS records and resets the status. Errors: 1 missing DomainID, 5 not found/denied,
 * 6 bad value, 7 the domain is being deleted (src/domains/deleting.ts).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { findOwnedDomain, presentDomain } from '../src/domains/domains';
import { DomainError, override, updateDomain } from '../src/domains/manage';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.updatedomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (DomainID)',
    5: 'Domain not found or access denied',
    6: 'Invalid subdomain or track prefix value',
    7: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 7: 409 },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(5);
    const flag = (v: unknown) => (v === undefined ? undefined : truthy(v));
    try {
      const { row: fresh, regenerated } = await updateDomain(ctx, row, {
        hosts: {
          domain: row.domain,
          subdomain: override(p.subdomain, row.subdomain),
          track_prefix: override(p.trackprefix, row.track_prefix),
          track_merge: p.trackmerge === undefined ? row.track_merge : p.trackmerge === '' ? null : String(p.trackmerge),
          track_prefix_disabled: p.trackprefixdisabled === undefined ? !!Number(row.track_prefix_disabled) : truthy(p.trackprefixdisabled),
        },
        link_tracking: flag(p.linktracking),
        open_tracking: flag(p.opentracking),
        unsubscribe_link: flag(p.unsubscribelink),
        hosting_provider: p.hostingprovider === undefined ? undefined : String(p.hostingprovider) || null,
      });
      return { Domain: presentDomain(fresh, ctx.config), SubdomainChanged: regenerated };
    } catch (err) {
      if (err instanceof DomainError) throw err.reason === 'hosts' ? new CommandError([6]) : new CommandError(err.reason === 'deleting' ? 7 : 5);
      throw err;
    }
  },
});
