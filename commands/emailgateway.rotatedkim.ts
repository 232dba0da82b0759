/**
 * emailgateway.rotatedkim — start a DKIM key rotation: a new key under a new selector, and the TXT record to publish
 * for it. Signing switches to the new key only once that record verifies (verifydomain, or the DNS watch); the old
 * key is kept DKIM_PREVIOUS_KEY_HOURS longer. While a rotation waits, asking again answers the same key and record.
 * Errors: 1 missing DomainID, 2 not found/denied, 3 the domain is being deleted (src/domains/deleting.ts; 409 on
 * /api/v1).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain, presentRotation } from '../src/domains/domains';
import { pendingRecord, startRotation } from '../src/domains/dkim-rotation';
import { DOMAIN_DELETING_TEXT } from '../src/domains/deleting';

export default defineCommand({
  name: 'emailgateway.rotatedkim',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied', 3: DOMAIN_DELETING_TEXT },
  httpStatus: { 3: 409 },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const rotation = await startRotation(ctx, row);
    if (rotation === 'deleting') throw new CommandError(3);
    const record = rotation !== 'gone' && pendingRecord(rotation.row);
    if (rotation === 'gone' || !record) throw new CommandError(2); // deleted meanwhile
    const d = rotation.row;
    return {
      Domain: { DomainID: Number(d.id), SenderDomain: d.domain, Status: d.status },
      DKIMSelector: d.dkim_selector,
      NewDKIMSelector: d.dkim_next_selector,
      AlreadyPending: rotation.alreadyPending,
      Record: { ...record, Required: false, Purpose: 'dkim-next' },
      DKIMRotation: presentRotation(d),
      Next: `Publish the TXT record at ${record.Host}, then verify the domain: messages are signed with selector ${d.dkim_next_selector} once it verifies, until then with ${d.dkim_selector}.`,
    };
  },
});
