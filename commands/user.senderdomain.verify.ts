/**
 * user.senderdomain.verify (POST /api/v1/user.senderdomain.verify) — probe one domain's records now (DomainID),
 * or with `verifyall` every Approval Pending domain, 25 per call (`Truncated: true` when more wait).
 * Errors: 1 missing DomainID (single mode), 2 not found, 3 the domain is being deleted (HTTP 409; never verified on,
 * src/domains/deleting.ts).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { truthy } from '../src/http/params';
import { DomainRow, findOwnedDomain, STATUS } from '../src/domains/domains';
import { DomainError, verifyDomain } from '../src/domains/manage';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';
import { DOMAIN_NOT_FOUND, MISSING_DOMAIN_ID, USER_AREA } from '../src/domains/user-errors';

const BULK = 25;

/** A domain whose deletion began during the call (it, or its account, is then Disabled): skipped in bulk (as one deleted), code 3 alone. */
const deleting = (err: unknown) => err instanceof DomainError && err.reason === 'deleting';
const deletingAsNull = (err: unknown) => {
  if (deleting(err)) return null;
  throw err;
};
const deletedAs3 = (err: unknown): never => {
  throw deleting(err) ? new CommandError(3) : err;
};

export default defineCommand({
  name: 'user.senderdomain.verify',
  ...USER_AREA,
  errors: { 1: MISSING_DOMAIN_ID, 2: DOMAIN_NOT_FOUND, 3: DOMAIN_DELETING_TEXT, 429: 'Too many requests' },
  httpStatus: { 3: 409 },
  async run(p, ctx) {
    if (p.verifyall !== undefined && truthy(p.verifyall)) {
      const rows: DomainRow[] = await ctx
        .db('sender_domains')
        .where({ user_id: ctx.user!.id, status: STATUS.pending })
        .orderBy('id')
        .limit(BULK + 1);
      const Domains: Record<string, unknown>[] = [];
      for (const row of rows.slice(0, BULK)) {
        const v = await verifyDomain(ctx, row).catch(deletingAsNull);
        if (v) Domains.push({ DomainID: Number(row.id), IsVerified: v.status === STATUS.enabled, Status: v.status });
      }
      const verified = Domains.filter((d) => d.IsVerified).length;
      return { VerifyAll: true, Verified: verified, Failed: Domains.length - verified, Truncated: rows.length > BULK, Domains };
    }
    if (p.domainid === undefined || p.domainid === '') throw new CommandError(1);
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    const v = row && (await verifyDomain(ctx, row).catch(deletedAs3));
    if (!row || !v) throw new CommandError(2);
    const DNSRecords: Record<string, [string, string, boolean]> = {};
    for (const r of v.results) DNSRecords[r.host] = [r.type, r.value, !!r.ok];
    return { DomainID: Number(row.id), IsVerified: v.status === STATUS.enabled, Status: v.status, DNSRecords };
  },
});
