/**
 * emailgateway.accountstats.public (GET /api/v1/stats) — the sender key's account at a glance: plan (user
 * group), account status, sending limits (0 = unlimited), mail accepted this month and today across the
 * account with what the quota still allows, the request rate limit, and this month's figures and rates for the
 * key's own domain. Months and days are the quota's: UTC calendar months and days (src/mail/quota.ts).
 * Errors: 1 missing key, 2 key's account or domain gone, 13 invalid key, 429 rate limited.
 */
import { defineCommand } from '../src/command';
import { sentInPeriods } from '../src/mail/quota';
import { utcMonthAndDay } from '../src/stats/periods';
import { counts, figures, withRates } from '../src/stats/queries';

export default defineCommand({
  name: 'emailgateway.accountstats.public',
  auth: 'sender',
  rateLimit: { durationSec: 60 },
  errors: { 1: 'Missing SenderAPIKey', 2: 'Invalid DomainID or invalid user account', 13: 'Invalid SenderAPIKey', 429: 'Too many requests' },
  async run(_p, ctx) {
    const user = ctx.user!;
    const domain = ctx.domain!;
    const now = Date.now();
    const { month, day } = utcMonthAndDay(now);
    const accountDomains = (await ctx.db('sender_domains').where({ user_id: user.id }).select('id')).map((d: { id: number }) => Number(d.id));
    const [group, accountMonth, accountDay, domainMonth, used] = await Promise.all([
      ctx.db('user_groups').where({ id: user.group_id }).first('name'),
      counts(ctx.db, accountDomains, month),
      counts(ctx.db, accountDomains, day),
      counts(ctx.db, [Number(domain.id)], month),
      sentInPeriods(ctx.db, user.id, now),
    ]);
    const monthly = Number(user.limit_monthly);
    const daily = Number(user.limit_daily);
    return {
      Plan: group?.name ?? '',
      AccountStatus: user.account_status,
      DomainID: Number(domain.id),
      SenderDomain: domain.domain,
      Limits: { MonthlyLimit: monthly, DailyLimit: daily },
      SentThisMonth: figures(accountMonth).Sent,
      SentToday: figures(accountDay).Sent,
      // What the quota check will still let through (null = unlimited); it counts reservations, as sending does.
      RemainingThisMonth: monthly > 0 ? Math.max(monthly - used.month, 0) : null,
      RemainingToday: daily > 0 ? Math.max(daily - used.day, 0) : null,
      RateLimits: { RequestsPerMinute: ctx.config.apiRateLimitPerMinute },
      ThisMonth: withRates(figures(domainMonth)),
    };
  },
});
