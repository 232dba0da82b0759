/**
 * emailgateway.accountsummary — the account at a glance for a sender or account key (can_read_analytics): plan and
 * its request limits, status, the monthly quota and what it still allows (account-wide, null = unlimited), the
 * Enabled domains in the key's scope, and this UTC month's figures and reputation score (src/stats/reputation.ts)
 * for those domains. Serves CyberPanel's GET /email/v1/account/stats. Errors: only the key's (1, 2, 13, 99999, 429).
 */
import { defineCommand } from '../src/command';
import { domainScope } from '../src/auth/account-keys';
import { planOf } from '../src/accounts/plans';
import { sentInPeriods } from '../src/mail/quota';
import { utcMonthAndDay } from '../src/stats/periods';
import { counts, figures } from '../src/stats/queries';
import { percentOf, reputationScore } from '../src/stats/reputation';
import { STATUS } from '../src/domains/domains';

export default defineCommand({
  name: 'emailgateway.accountsummary',
  auth: 'sender',
  accountKey: 'can_read_analytics',
  rateLimit: { durationSec: 60 },
  keepsCredentialCaches: true,
  errors: { 1: 'Missing API key', 2: 'Invalid user account', 13: 'Invalid API key', 429: 'Too many requests' },
  async run(_p, ctx) {
    const user = ctx.user!;
    const scope = domainScope(ctx);
    const now = Date.now();
    const q = ctx.db('sender_domains').where({ user_id: user.id });
    if (scope.domainIds !== null) q.whereIn('id', scope.domainIds);
    const domains: { id: number; status: string }[] = await q.select('id', 'status');
    const ids = domains.map((d) => Number(d.id));
    const allIds = scope.domainIds === null ? ids : (await ctx.db('sender_domains').where({ user_id: user.id }).pluck('id')).map(Number);
    const { month } = utcMonthAndDay(now);
    const [mine, account, used] = await Promise.all([counts(ctx.db, ids, month), counts(ctx.db, allIds, month), sentInPeriods(ctx.db, user.id, now)]);
    const f = figures(mine);
    const complained = mine.get('complained')?.count ?? 0;
    const plan = planOf(user);
    const monthly = Number(user.limit_monthly);
    return {
      Plan: plan.name,
      AccountStatus: user.account_status,
      RateLimits: { PerMinute: plan.limits.perMinute, PerHour: plan.limits.perHour, PerDay: plan.limits.perDay },
      MonthlyLimit: monthly > 0 ? monthly : null,
      SentThisMonth: figures(account).Sent,
      // What the quota check still lets through (it counts reservations, as sending does).
      RemainingThisMonth: monthly > 0 ? Math.max(monthly - used.month, 0) : null,
      DomainsVerified: domains.filter((d) => d.status === STATUS.enabled).length,
      ReputationScore: reputationScore({ sent: f.Sent, bounced: f.Bounced, complained }),
      ThisMonth: { ...f, Complained: complained, BounceRate: percentOf(f.Bounced, f.Sent), ComplaintRate: percentOf(complained, f.Sent) },
    };
  },
});
