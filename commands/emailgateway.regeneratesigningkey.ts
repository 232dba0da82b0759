/** emailgateway.regeneratesigningkey — replace a domain's webhook signing key (64 uppercase hex); other domains keep theirs. Errors: 1 missing DomainID, 2 not found/denied, 3 domain deleted meanwhile (nothing stored; retry), 4 the domain is being deleted (src/domains/deleting.ts; nothing stored). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { rotateSigningKey, standardSecret } from '../src/webhooks/signing';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.regeneratesigningkey',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {
    1: 'Missing required parameter (DomainID)',
    2: 'Domain not found or access denied',
    3: 'The signing key could not be stored (the domain was deleted meanwhile); nothing changed',
    4: DOMAIN_DELETING_TEXT,
  },
  httpStatus: { 4: 409 },
  async run(p, ctx) {
    const domain = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!domain) throw new CommandError(2);
    const key = await rotateSigningKey(ctx.db, ctx.config, domain, ctx.config.webhooks.keyGraceMs, () => new CommandError(4));
    if (!key) throw new CommandError(3);
    ctx.logger.info('webhook signing key regenerated', { domainId: domain.id });
    return { SigningKey: key, SigningSecret: standardSecret(key) };
  },
});
