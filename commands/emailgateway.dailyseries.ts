/**
 * emailgateway.dailyseries — per-day figures for one domain (DomainID) or all of the caller's domains
 * (absent or 0): `Series{Y-m-d:{Sent,Bounced,Opened,Clicked}}`, days in the user's time zone, days without
 * events omitted (the caller zero-fills). Sent = delivered events (the recipient's server accepted the
 * message); Bounced = bounced events; Opened, Clicked = unique opens and clicks (events marked data.unique,
 * the first per delivery). StartDate/EndDate are strict Y-m-d: invalid or absent means EndDate today and StartDate EndDate − 30
 * days; EndDate is clamped ≥ StartDate and the window to 366 days. Errors: 2 domain not found/denied.
 */
import { defineCommand } from '../src/command';
import { dailySeries } from '../src/events/aggregate';
import { optionalDomainScope, zoneOf } from '../src/events/params';
import { statsWindow } from '../src/events/time';

export default defineCommand({
  name: 'emailgateway.dailyseries',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const scope = await optionalDomainScope(ctx, p.domainid, 2);
    const tz = zoneOf(ctx);
    const window = statsWindow(p.startdate, p.enddate, tz, Date.now(), 30, 366);
    const series = await dailySeries(ctx.db, scope, window, tz);
    return { StartDate: `${window.startDay} 00:00:00`, EndDate: `${window.endDay} 23:59:59`, Series: series };
  },
});
