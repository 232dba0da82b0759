/**
 * emailgateway.verifydomain — resolve every record; all required ones right → Enabled, else Approval Pending.
 * Besides the contract's DNSVerificationResults map, Records lists each record with what DNS answered (Found).
 * Errors: 1 missing DomainID, 2 not found/denied.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain, recordsFor, STATUS } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.verifydomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const results = await ctx.dns.verify(recordsFor(row, ctx.config));
    const allRequired = results.every((r) => !r.required || r.ok);
    let status = row.status;
    if (status === STATUS.pending || status === STATUS.enabled) status = allRequired ? STATUS.enabled : STATUS.pending;
    const now = Date.now();
    const updated = await ctx.db('sender_domains')
      .where({ id: row.id, user_id: ctx.user!.id })
      .update({ status, dns_records: JSON.stringify(results), last_verified_at: now, updated_at: now });
    if (!updated) throw new CommandError(2);
    const DNSVerificationResults: Record<string, [string, string, boolean]> = {};
    for (const r of results) DNSVerificationResults[r.host] = [r.type, r.value, !!r.ok];
    const Records = results.map((r) => ({ Host: r.host, Type: r.type, Value: r.value, Required: r.required, Purpose: r.purpose, Verified: !!r.ok, Found: r.found ?? [] }));
    return { Domain: { DomainID: row.id, SenderDomain: row.domain, Status: status }, DNSVerificationResults, Records };
  },
});
