/**
 * emailgateway.domainstats — Sent, Delivered, Bounced, Opened, Clicked of one domain over StartDate..EndDate
 * (Y-m-d days in the user's time zone; default the 28 days before today through today), the same figures for
 * the period of equal length just before, and per message tag. Read from the hourly rollups (src/stats).
 * Errors: 1 missing DomainID, 2 domain not found or not the caller's.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { previousWindow } from '../src/stats/periods';
import { ownedDomainId, windowFor } from '../src/stats/present';
import { counts, figures, tagFigures } from '../src/stats/queries';

export default defineCommand({
  name: 'emailgateway.domainstats',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const domainId = await ownedDomainId(ctx.db, ctx.user!, p.domainid);
    if (domainId === null) throw new CommandError(2);
    const { tz, window } = windowFor(ctx.user!, p, 28);
    const [now, before, TagStats] = await Promise.all([
      counts(ctx.db, [domainId], window),
      counts(ctx.db, [domainId], previousWindow(window, tz)),
      tagFigures(ctx.db, domainId, window),
    ]);
    return { Stats: figures(now), ComparisonStats: { PreviousPeriod: figures(before) }, TagStats };
  },
});
