/**
 * user.senderdomain.update (PATCH /api/v1/user.senderdomain, JSON body) — partial update: tracking switches,
 * CustomSubdomain / CustomTrackPrefix / UseTrackingSubdomain (these regenerate the records: DnsRecords → Approval
 * Pending, `DnsRegenerated: true`) and `status` Enabled|Disabled. Errors: 1 missing DomainID, 2 not found,
 * 6 bad label, 7 gone while updating (HTTP 500), 9 bad status, 10 enabling an unverified domain, 11 the domain is being
 * deleted (HTTP 409; src/domains/deleting.ts).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { findOwnedDomain, parseRecords, STATUS } from '../src/domains/domains';
import { DomainError, override, updateDomain } from '../src/domains/manage';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';
import { releaseSwitchedOn } from '../src/delivery/switched-off-hold';
import { presentUserDomain } from '../src/domains/user-present';
import { BAD_LABEL, DOMAIN_NOT_FOUND, MISSING_DOMAIN_ID, USER_AREA } from '../src/domains/user-errors';

const flag = (v: unknown) => (v === undefined ? undefined : truthy(v));

export default defineCommand({
  name: 'user.senderdomain.update',
  ...USER_AREA,
  errors: {
    1: MISSING_DOMAIN_ID,
    2: DOMAIN_NOT_FOUND,
    6: BAD_LABEL,
    7: 'Sender domain could not be retrieved after update',
    9: 'Invalid Status value. Allowed: Enabled, Disabled',
    10: 'Cannot enable an unverified domain: run user.senderdomain.verify first',
    11: DOMAIN_DELETING_TEXT,
    429: 'Too many requests',
  },
  httpStatus: { 7: 500, 11: 409 },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    let status: string | undefined;
    if (p.status !== undefined) {
      const wanted = String(p.status).trim().toLowerCase();
      if (wanted !== 'enabled' && wanted !== 'disabled') throw new CommandError(9);
      status = wanted === 'enabled' ? STATUS.enabled : STATUS.disabled;
      // Only a domain whose required records passed their last probe may be switched (back) on.
      const verified = parseRecords(row).every((r) => !r.required || r.ok === true);
      if (status === STATUS.enabled && row.status !== STATUS.enabled && !verified) throw new CommandError(10);
      if (row.status === STATUS.suspended) status = undefined; // suspended by an admin: the user cannot lift it
    }
    try {
      const { row: fresh, regenerated } = await updateDomain(ctx, row, {
        hosts: {
          domain: row.domain,
          subdomain: override(p.customsubdomain, row.subdomain),
          track_prefix: override(p.customtrackprefix, row.track_prefix),
          track_merge: row.track_merge,
          track_prefix_disabled: p.usetrackingsubdomain === undefined ? !!Number(row.track_prefix_disabled) : !truthy(p.usetrackingsubdomain),
        },
        link_tracking: flag(p.linktracking),
        open_tracking: flag(p.opentracking),
        unsubscribe_link: flag(p.unsubscribelink),
        status,
      });
      // Switched back on: its mail held while it was Disabled goes out (what this cannot release, the sweeper does).
      if (row.status === STATUS.disabled && fresh.status !== STATUS.disabled)
        await releaseSwitchedOn(ctx, { user_id: ctx.user!.id, domain_id: fresh.id }).catch((err) =>
          ctx.logger.warn('mail held for a disabled domain not released; the sweeper will', { domainId: fresh.id, error: (err as Error).message }),
        );
      return { DnsRegenerated: regenerated, SenderDomain: presentUserDomain(fresh) };
    } catch (err) {
      if (err instanceof DomainError) throw new CommandError(err.reason === 'hosts' ? 6 : err.reason === 'deleting' ? 11 : 7);
      throw err;
    }
  },
});
