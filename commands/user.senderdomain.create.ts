/**
 * user.senderdomain.create (POST /api/v1/user.senderdomain) — register a sender domain (the same domains as
 * emailgateway.adddomain). Errors: 1 missing SenderDomain, 4 localhost, 5 domain limit (HTTP 403), 6 bad
 * CustomSubdomain/CustomTrackPrefix, 7 invalid name or registered by another account (HTTP 400), 8 the caller's own
 * domain of this name is being deleted (HTTP 409).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { findOwnedDomain } from '../src/domains/domains';
import { createDomain, DomainError, TAKEN_TEXT } from '../src/domains/manage';
import { normalizeDomain } from '../src/domains/names';
import { presentUserDomain } from '../src/domains/user-present';
import { BAD_LABEL, USER_AREA } from '../src/domains/user-errors';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

const flag = (v: unknown) => (v === undefined ? undefined : truthy(v));

export default defineCommand({
  name: 'user.senderdomain.create',
  ...USER_AREA,
  errors: {
    1: 'Missing SenderDomain parameter',
    4: 'localhost is not a valid sender domain',
    5: 'Sender domain limit reached for your account',
    6: BAD_LABEL,
    7: 'Sender domain create process failed: the name is not a valid domain',
    8: DOMAIN_DELETING_TEXT,
    429: 'Too many requests',
  },
  httpStatus: { 5: 403, 7: 400, 8: 409 },
  async run(p, ctx) {
    const raw = String(p.senderdomain).trim().toLowerCase().replace(/\.$/, '');
    if (raw === 'localhost' || raw.endsWith('.localhost')) throw new CommandError(4);
    const domain = normalizeDomain(raw);
    if (!domain) throw new CommandError(7);
    let id: number;
    try {
      id = await createDomain(
        ctx,
        {
          domain,
          subdomain: p.customsubdomain ? String(p.customsubdomain).toLowerCase() : null,
          track_prefix: p.customtrackprefix ? String(p.customtrackprefix).toLowerCase() : null,
          track_merge: null,
          track_prefix_disabled: p.usetrackingsubdomain === undefined ? false : !truthy(p.usetrackingsubdomain),
        },
        { link_tracking: flag(p.linktracking), open_tracking: flag(p.opentracking), unsubscribe_link: flag(p.unsubscribelink) },
      );
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      throw err.reason === 'taken'
        ? new CommandError(7, `Sender domain create process failed: ${TAKEN_TEXT}`)
        : new CommandError(err.reason === 'limit' ? 5 : err.reason === 'deleting' ? 8 : 6);
    }
    const row = (await findOwnedDomain(ctx.db, ctx.user!.id, id))!;
    return { DomainID: id, SenderDomain: presentUserDomain(row) };
  },
});
