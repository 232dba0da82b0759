/**
 * emailgateway.addapi — a new sender API key for a domain, shown in full once. Errors: 1 missing Description,
 * 2 missing DomainID, 3 not found/denied, 4 the caller is IP-restricted (a user key with a BoundIPAddress, or a
 * session opened with one): sender keys have no address restriction, so they would let the caller send from anywhere;
 * 5 the domain is being deleted (src/domains/deleting.ts). A domain deleted meanwhile answers 3, nothing stored.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { insertSenderKey } from '../src/credentials/sender-keys';
import { findOwnedDomain } from '../src/domains/domains';
import { refuseUnboundCredential } from '../src/credentials/key-reach';
import { DOMAIN_DELETING_TEXT, unlessDeleting } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.addapi',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (Description)',
    2: 'Missing required parameter (DomainID)',
    3: 'Domain not found or access denied',
    4: 'An IP-restricted key (or a session opened with one) cannot make sender API keys: they work from any address',
    5: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 5: 409 },
  async run(p, ctx) {
    refuseUnboundCredential(ctx, 4, 'sender API keys');
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(3);
    return unlessDeleting(
      ctx.db,
      domain,
      (state) => new CommandError(state === 'gone' ? 3 : 5),
      (trx) => insertSenderKey(trx, ctx.user!.id, domain.id, String(p.description)),
    );
  },
});
