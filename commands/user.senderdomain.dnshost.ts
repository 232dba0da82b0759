/** user.senderdomain.dnshost (GET /api/v1/user.senderdomain.dnshost) — the domain's name servers and the provider they belong to (`unknown` when unmapped or unresolvable). Errors: 1, 2. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { dnsHostOf } from '../src/domains/dns-host';
import { DOMAIN_NOT_FOUND, MISSING_DOMAIN_ID, USER_AREA } from '../src/domains/user-errors';

export default defineCommand({
  name: 'user.senderdomain.dnshost',
  ...USER_AREA,
  keepsCredentialCaches: true,
  errors: { 1: MISSING_DOMAIN_ID, 2: DOMAIN_NOT_FOUND, 429: 'Too many requests' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const Nameservers = await ctx.dns.nameservers(row.domain);
    return { DomainID: Number(row.id), SenderDomain: row.domain, DnsHost: dnsHostOf(Nameservers), Nameservers };
  },
});
