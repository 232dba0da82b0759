/**
 * emailgateway.getdomains — every sender domain of the caller. WithCounts adds, per domain (upstream §4.2):
 * APIKeyCount, SMTPCount, WebhookCount (Enabled rows), Sent7d (accepted in the last 7 days), BounceRate7d
 * (bounced ÷ sent × 100, 2 decimals) and LastActivityAt (ISO 8601 UTC of the newest event in those 7 days, or null).
 * DeletionStartedAt (Postern's): when a deletion of it began that has not finished (src/domains/deleting.ts), else null.
 * Errors: 1 WithCounts not a flag.
 */
import type { Knex } from 'knex';
import { defineCommand } from '../src/command';
import { formatTime } from '../src/auth/users';
import { truthy } from '../src/http/params';
import { DomainRow, parseRecords, presentOptions, recordMap } from '../src/domains/domains';
import { countsByDomain as eventCounts, figures, rate } from '../src/stats/queries';
import { HOUR_MS } from '../src/stats/rollups';
import { lastActivity } from '../src/events/last-activity';
import { deletionStartedAt } from '../src/domains/deleting';

const WEEK_MS = 7 * 24 * HOUR_MS;

async function countsByDomain(db: Knex, table: string, userId: number): Promise<Map<number, number>> {
  const rows = await db(table).where({ user_id: userId, status: 'Enabled' }).groupBy('domain_id').select('domain_id').count({ n: '*' });
  return new Map((rows as { domain_id: number; n: unknown }[]).map((r) => [Number(r.domain_id), Number(r.n)]));
}

export default defineCommand({
  name: 'emailgateway.getdomains',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  accountKey: 'can_read_analytics',
  errors: { 1: 'Invalid WithCounts: send true or false' },
  async run(p, ctx) {
    const userId = ctx.user!.id;
    const q = ctx.db('sender_domains').where({ user_id: userId });
    // An account key restricted to some domains sees only those.
    if (ctx.accountKey?.domainIds) q.whereIn('id', ctx.accountKey.domainIds);
    const rows: DomainRow[] = await q.orderBy('id');
    const withCounts = p.withcounts !== undefined && truthy(p.withcounts);
    const ids = rows.map((r) => Number(r.id));
    const now = Date.now();
    const counts = withCounts
      ? await Promise.all([
          countsByDomain(ctx.db, 'domain_api_keys', userId),
          countsByDomain(ctx.db, 'smtp_credentials', userId),
          countsByDomain(ctx.db, 'webhooks', userId),
          eventCounts(ctx.db, ids, { fromHour: Math.floor((now - WEEK_MS) / HOUR_MS), toHour: Math.floor(now / HOUR_MS) + 1 }),
          lastActivity(ctx.db, ids, now - WEEK_MS),
        ])
      : null;
    const Domains = rows.map((row) => {
      const d: Record<string, unknown> = {
        DomainID: row.id,
        SenderDomain: row.domain,
        CreatedAt: formatTime(row.created_at),
        Status: row.status,
        DeletionStartedAt: deletionStartedAt(row),
        VerificationMeta: { DNSRecords: recordMap(parseRecords(row)) },
        PolicyMeta: [],
        Options: presentOptions(row),
      };
      if (counts) {
        const [keys, smtps, hooks, events, last] = counts;
        const week = figures(events.get(Number(row.id)));
        const at = last.get(Number(row.id));
        Object.assign(d, {
          APIKeyCount: keys.get(row.id) ?? 0,
          SMTPCount: smtps.get(row.id) ?? 0,
          WebhookCount: hooks.get(row.id) ?? 0,
          Sent7d: week.Sent,
          BounceRate7d: rate(week.Bounced, week.Sent),
          LastActivityAt: at === undefined ? null : new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        });
      }
      return d;
    });
    return { Domains };
  },
});
