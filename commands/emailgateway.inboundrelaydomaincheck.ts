/**
 * emailgateway.inboundrelaydomaincheck (GET /api/v1/inbound-relay-domain-check?domain=…, Bearer AdminAPIKey) —
 * may an MX accept mail for this domain or address? Yes for Enabled sender domains and their MFROM and tracking
 * hosts, and for the MFROM host of a domain that has sent mail (src/mta/hosts.ts says why).
 * v1 answers 200 {Success, RelayDomain}, 500 {} when denied, 403 {Errors:[{Code:1}]} for a bad key.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { relayDomainFor } from '../src/mta/hosts';

export default defineCommand({
  name: 'emailgateway.inboundrelaydomaincheck',
  auth: 'admin',
  keepsCredentialCaches: true,
  errors: { 1: 'Missing required parameter (Domain)', 2: 'Relay access denied: the domain is not served by this installation' },
  async run(p, ctx) {
    const RelayDomain = await relayDomainFor(ctx.db, ctx.config, String(p.domain));
    if (!RelayDomain) throw new CommandError(2);
    return { RelayDomain };
  },
});
