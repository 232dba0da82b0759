/**
 * emailgateway.listrecipientdomains — the recipient domains a sender domain mailed over StartDate..EndDate
 * (default the 30 days before today through today, user's time zone; EndDate clamped), most delivered first:
 * Sent (delivered), Failed (bounced, given up or suppressed), Sending (accepted and not yet settled) and the
 * average/min/max seconds to delivery. Limit: default 50, clamped to 1..1000.
 * Errors: 1 missing DomainID, 2 domain not found or not the caller's.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { echoWindow, ownedDomainId, windowFor } from '../src/stats/present';
import { listRecipientDomains } from '../src/stats/queries';

function limitOf(v: unknown): number {
  const n = Math.trunc(Number(v));
  if (v === undefined || v === null || v === '' || !Number.isFinite(n)) return 50;
  return Math.min(Math.max(n, 1), 1000);
}

export default defineCommand({
  name: 'emailgateway.listrecipientdomains',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domainId = await ownedDomainId(ctx.db, ctx.user!, p.domainid);
    if (domainId === null) throw new CommandError(2);
    const { window } = windowFor(ctx.user!, p, 30);
    const Limit = limitOf(p.limit);
    return { ...echoWindow(window), Limit, RecipientDomains: await listRecipientDomains(ctx.db, domainId, window, Limit) };
  },
});
