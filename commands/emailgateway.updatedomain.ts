/**
 * emailgateway.updatedomain — tracking options and host overrides. Changing Subdomain, TrackPrefix, TrackMerge or
 * TrackPrefixDisabled regenerates the DNS records and resets the status. Errors: 1 missing DomainID, 5 not found/denied, 6 bad value.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { findOwnedDomain, presentDomain, recordsFor, STATUS } from '../src/domains/domains';
import { composeHosts, hostsAreValid } from '../src/domains/names';

function override(v: unknown, current: string | null): string | null {
  if (v === undefined) return current;
  const s = String(v).toLowerCase();
  return s === '' ? null : s; // empty resets to the install default
}

export default defineCommand({
  name: 'emailgateway.updatedomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 5: 'Domain not found or access denied', 6: 'Invalid subdomain or track prefix value' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(5);
    const hostSettings = {
      domain: row.domain,
      subdomain: override(p.subdomain, row.subdomain),
      track_prefix: override(p.trackprefix, row.track_prefix),
      track_merge: p.trackmerge === undefined ? row.track_merge : p.trackmerge === '' ? null : String(p.trackmerge),
      track_prefix_disabled: p.trackprefixdisabled === undefined ? !!Number(row.track_prefix_disabled) : truthy(p.trackprefixdisabled),
    };
    const before = composeHosts(row, ctx.config);
    const after = composeHosts(hostSettings, ctx.config);
    if (!hostsAreValid(after)) throw new CommandError([6]);
    const changed =
      hostSettings.subdomain !== row.subdomain ||
      hostSettings.track_prefix !== row.track_prefix ||
      hostSettings.track_merge !== row.track_merge ||
      hostSettings.track_prefix_disabled !== !!Number(row.track_prefix_disabled) ||
      before.mfromHost !== after.mfromHost ||
      before.trackingHost !== after.trackingHost;

    const update: Record<string, unknown> = { updated_at: Date.now() };
    if (p.linktracking !== undefined) update.link_tracking = truthy(p.linktracking);
    if (p.opentracking !== undefined) update.open_tracking = truthy(p.opentracking);
    if (p.unsubscribelink !== undefined) update.unsubscribe_link = truthy(p.unsubscribelink);
    if (p.hostingprovider !== undefined) update.hosting_provider = String(p.hostingprovider) || null;
    if (changed) {
      Object.assign(update, hostSettings, {
        dns_records: JSON.stringify(recordsFor({ ...hostSettings, dkim_selector: row.dkim_selector, dkim_public_key: row.dkim_public_key }, ctx.config)),
        last_verified_at: null,
      });
      // Admin-set Disabled/Suspended stay as they are; otherwise the new hosts must be verified again.
      if (row.status === STATUS.enabled || row.status === STATUS.pending) update.status = STATUS.pending;
    }
    await ctx.db('sender_domains').where({ id: row.id, user_id: ctx.user!.id }).update(update);
    const fresh = await findOwnedDomain(ctx.db, ctx.user!.id, row.id);
    if (!fresh) throw new CommandError(5); // deleted concurrently
    return { Domain: presentDomain(fresh, ctx.config), SubdomainChanged: changed };
  },
});
