/**
 * emailgateway.accountstats — Sent, Delivered, Bounced, Opened, Clicked and their rates (% of Sent) over
 * StartDate..EndDate (default the 30 days before today through today, user's time zone; EndDate clamped to
 * StartDate) for all the caller's domains or those in DomainIDs (comma-separated; ids not owned are dropped),
 * the same for the period of equal length just before, and per domain (by Sent, descending; zero-filled).
 * Errors: only authentication (99998).
 */
import { defineCommand } from '../src/command';
import { previousWindow } from '../src/stats/periods';
import { echoWindow, windowFor } from '../src/stats/present';
import { counts, countsByDomain, figures, withRates } from '../src/stats/queries';

/**
 * The ids asked for, as a set matched in memory against the caller's own domains: the request's ids never reach SQL,
 * so tens of thousands of them (SQLite refuses over 32,766 bound terms) cost a scan of the caller's domains, and
 * duplicates or ids beyond them drop out, as the compat notes say unowned ids do.
 */
function requestedIds(v: unknown): Set<number> | null {
  if (v === undefined || v === null || v === '') return null;
  const parts = Array.isArray(v) ? v : String(v).split(',');
  return new Set(parts.map((x) => Number(String(x).trim())).filter((n) => Number.isSafeInteger(n) && n > 0));
}

export default defineCommand({
  name: 'emailgateway.accountstats',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: {},
  async run(p, ctx) {
    const { tz, window } = windowFor(ctx.user!, p, 30);
    const wanted = requestedIds(p.domainids);
    const owned: { id: number; domain: string }[] = await ctx.db('sender_domains').where({ user_id: ctx.user!.id }).orderBy('id').select('id', 'domain');
    const domains = wanted ? owned.filter((d) => wanted.has(Number(d.id))) : owned;
    const ids = domains.map((d) => Number(d.id));
    const [perDomain, before] = await Promise.all([countsByDomain(ctx.db, ids, window), counts(ctx.db, ids, previousWindow(window, tz))]);
    const PerDomain = domains.map((d) => {
      const f = withRates(figures(perDomain.get(Number(d.id))));
      return {
        DomainID: Number(d.id),
        SenderDomain: d.domain,
        Sent: f.Sent,
        Delivered: f.Delivered,
        Bounced: f.Bounced,
        Opened: f.Opened,
        Clicked: f.Clicked,
        DeliveryRate: f.DeliveryRate,
        BounceRate: f.BounceRate,
        OpenRate: f.OpenRate,
        ClickRate: f.ClickRate,
      };
    });
    PerDomain.sort((a, b) => b.Sent - a.Sent || a.DomainID - b.DomainID);
    const sum = { Sent: 0, Delivered: 0, Bounced: 0, Opened: 0, Clicked: 0 };
    for (const d of PerDomain) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += d[k];
    const ordered = (f: ReturnType<typeof withRates>) => ({
      Sent: f.Sent,
      Delivered: f.Delivered,
      Bounced: f.Bounced,
      Opened: f.Opened,
      Clicked: f.Clicked,
      DeliveryRate: f.DeliveryRate,
      OpenRate: f.OpenRate,
      ClickRate: f.ClickRate,
      BounceRate: f.BounceRate,
    });
    return { ...echoWindow(window), Totals: ordered(withRates(sum)), ComparisonTotals: ordered(withRates(figures(before))), PerDomain };
  },
});
