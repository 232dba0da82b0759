/**
 * emailgateway.dailystats — one row per day of StartDate..EndDate (Y-m-d in your time zone; default the 30
 * days before today through today; at most 366 days, the earliest dropped) with Sent (accepted), Delivered,
 * Bounced, Opened and Clicked (unique), as domainstats counts them, zero-filled, for one domain or all of
 * yours (DomainID absent or 0). Where dailyseries follows upstream (Sent = delivered, empty days omitted),
 * this is the series a chart draws. Errors: 2 domain not found/denied.
 */
import { defineCommand } from '../src/command';
import { optionalDomainScope } from '../src/events/params';
import { dailyFigures } from '../src/stats/daily';
import { addDays, windowOf, zoneOf } from '../src/stats/periods';
import { echoWindow, windowFor } from '../src/stats/present';

export default defineCommand({
  name: 'emailgateway.dailystats',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: { 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const scope = await optionalDomainScope(ctx, p.domainid, 2);
    const tz = zoneOf(ctx.user!.time_zone);
    let { window } = windowFor(ctx.user!, p, 30);
    const earliest = addDays(window.end, -365);
    if (Date.UTC(window.start.y, window.start.m - 1, window.start.d) < Date.UTC(earliest.y, earliest.m - 1, earliest.d))
      window = windowOf(earliest, window.end, tz);
    const domainIds =
      scope.domainId !== undefined
        ? [scope.domainId]
        : ((await ctx.db('sender_domains').where({ user_id: scope.userId }).select('id')) as { id: number }[]).map((r) => Number(r.id));
    return { ...echoWindow(window), Days: await dailyFigures(ctx.db, domainIds, window, tz) };
  },
});
