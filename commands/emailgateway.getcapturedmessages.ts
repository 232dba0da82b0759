/**
 * emailgateway.getcapturedmessages — messages kept by DELIVERY_MODE=capture for the caller's domains (or one
 * DomainID), newest first; filters MessageID and Recipient, paging StartFrom and RetrieveCount (≤ 100).
 * Errors: 2 domain not found/denied, 3 invalid filter or paging value.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { listCaptured } from '../src/capture/read';

export default defineCommand({
  name: 'emailgateway.getcapturedmessages',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: { 2: 'Domain not found or access denied', 3: 'Invalid filter or paging value (StartFrom ≥ 0, RetrieveCount 1-100)' },
  async run(p, ctx) {
    if (p.domainid !== undefined && !(await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid))) throw new CommandError(2);
    return listCaptured(ctx, { userId: ctx.user!.id, domainId: p.domainid === undefined ? undefined : Number(p.domainid) }, p);
  },
});
