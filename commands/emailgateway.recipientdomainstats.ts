/**
 * emailgateway.recipientdomainstats — for mail from one sender domain to one recipient domain over
 * StartDate..EndDate (default the 28 days before today through today, user's time zone): SummaryStats for
 * Sent (delivered) and Failed (bounced or given up) with average/min/max seconds from acceptance to that
 * outcome, and DeliverySpeedHistogram over the contract's eight buckets (only buckets holding mail).
 * Errors: 1 missing DomainID or RecipientToDomain, 2 domain not found or not the caller's.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { ownedDomainId, windowFor } from '../src/stats/present';
import { recipientDomainStats } from '../src/stats/queries';

export default defineCommand({
  name: 'emailgateway.recipientdomainstats',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID or RecipientToDomain)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domainId = await ownedDomainId(ctx.db, ctx.user!, p.domainid);
    if (domainId === null) throw new CommandError(2);
    const recipientDomain = String(p.recipienttodomain).trim().replace(/^@/, '').toLowerCase();
    if (!recipientDomain) throw new CommandError(1);
    const { window } = windowFor(ctx.user!, p, 28);
    return recipientDomainStats(ctx.db, domainId, recipientDomain, window);
  },
});
