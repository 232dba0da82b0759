/**
 * emailgateway.verifydomain — resolve every record; all required ones right → Enabled, else Approval Pending.
 * Besides the contract's DNSVerificationResults map, Records lists each record with what DNS answered (Found).
 * Errors: 1 missing DomainID, 2 not found/denied, 3 the domain is being deleted (never verified on:
 * src/domains/deleting.ts).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { DomainError, verifyDomain } from '../src/domains/manage';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.verifydomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  accountKey: 'can_send',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied', 3: DOMAIN_DELETING_TEXT },
  httpStatus: { 3: 409 },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row || (ctx.accountKey?.domainIds && !ctx.accountKey.domainIds.includes(Number(row.id)))) throw new CommandError(2);
    const verified = await verifyDomain(ctx, row).catch((err: unknown) => {
      throw err instanceof DomainError && err.reason === 'deleting' ? new CommandError(3) : err;
    });
    if (!verified) throw new CommandError(2);
    const DNSVerificationResults: Record<string, [string, string, boolean]> = {};
    for (const r of verified.results) DNSVerificationResults[r.host] = [r.type, r.value, !!r.ok];
    const Records = verified.results.map((r) => ({
      Host: r.host,
      Type: r.type,
      Value: r.value,
      Required: r.required,
      Purpose: r.purpose,
      Verified: !!r.ok,
      Found: r.found ?? [],
    }));
    return { Domain: { DomainID: row.id, SenderDomain: row.domain, Status: verified.status }, DNSVerificationResults, Records };
  },
});
