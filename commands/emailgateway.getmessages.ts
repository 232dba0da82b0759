/**
 * emailgateway.getmessages (GET /api/v1/emails) — the key's domain's message log (an account key's: its domains'), newest first.
 * Filters: Status (of any recipient; several comma-separated), Recipient, Tag, From/To (Unix times); paging Page
 * (1-based) and Limit (≤ 100). WithEngagement=1 adds each message's Opens and Clicks (every one recorded).
 */
import { defineCommand } from '../src/command';
import { messageStatus } from '../src/mail/lookup';
import { domainScope } from '../src/auth/account-keys';
import { truthy } from '../src/http/params';

export default defineCommand({
  name: 'emailgateway.getmessages',
  auth: 'sender',
  accountKey: 'can_read_analytics',
  rateLimit: { durationSec: 60 },
  errors: { 1: 'Missing SenderAPIKey', 2: 'Invalid DomainID or invalid user account', 3: 'Invalid filter or paging value', 13: 'Invalid SenderAPIKey', 429: 'Too many requests' },
  async run(p, ctx) {
    const limit = Number(p.limit);
    const page = Number(p.page);
    const scope = domainScope(ctx);
    const q = ctx.db('messages').where('messages.user_id', scope.userId);
    if (scope.domainIds !== null) q.whereIn('messages.domain_id', scope.domainIds);
    if (p.from !== undefined) q.where('messages.created_at', '>=', Number(p.from) * 1000);
    if (p.to !== undefined) q.where('messages.created_at', '<=', Number(p.to) * 1000 + 999);
    if (p.tag !== undefined) q.whereRaw(`messages.tags like ? escape '!'`, [`%${JSON.stringify(String(p.tag)).replace(/[!%_]/g, (c) => '!' + c)}%`]);
    if (p.recipient !== undefined || p.status !== undefined) {
      q.whereExists(function () {
        this.select(ctx.db.raw('1')).from('deliveries').whereRaw('deliveries.message_id = messages.id');
        if (p.recipient !== undefined) this.whereRaw('lower(deliveries.recipient) = ?', [String(p.recipient).toLowerCase()]);
        if (p.status !== undefined) this.whereIn('deliveries.status', String(p.status).split(','));
      });
    }
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q.orderBy('messages.created_at', 'desc').orderBy('messages.id').limit(limit).offset((page - 1) * limit)
      .select('messages.id', 'messages.from_email', 'messages.subject', 'messages.tags', 'messages.created_at');
    const ids = rows.map((r: { id: string }) => r.id);
    const deliveries = ids.length ? await ctx.db('deliveries').whereIn('message_id', ids).select('message_id', 'recipient', 'status') : [];
    const total = Number(n);
    const engagement = new Map<string, Record<string, number>>();
    if (ids.length && p.withengagement !== undefined && truthy(p.withengagement)) {
      const rows2 = await ctx.db('events').whereIn('message_id', ids).whereIn('type', ['opened', 'clicked']).groupBy('message_id', 'type').select('message_id', 'type').count({ n: '*' });
      for (const e of rows2 as { message_id: string; type: string; n: unknown }[]) {
        const m = engagement.get(e.message_id) ?? engagement.set(e.message_id, { Opens: 0, Clicks: 0 }).get(e.message_id)!;
        m[e.type === 'opened' ? 'Opens' : 'Clicks'] = Number(e.n);
      }
    }
    return {
      Emails: rows.map((r: Record<string, any>) => {
        const mine = deliveries.filter((d: { message_id: string }) => d.message_id === r.id);
        return {
          MessageID: r.id,
          From: r.from_email,
          To: mine.map((d: { recipient: string }) => d.recipient),
          Subject: r.subject,
          Tags: JSON.parse(r.tags),
          Status: messageStatus(mine.map((d: { status: string }) => d.status)),
          CreatedAt: new Date(Number(r.created_at)).toISOString(),
          ...(p.withengagement !== undefined && truthy(p.withengagement) ? engagement.get(r.id) ?? { Opens: 0, Clicks: 0 } : {}),
        };
      }),
      Total: total,
      Page: page,
      Pages: Math.ceil(total / limit),
    };
  },
});
