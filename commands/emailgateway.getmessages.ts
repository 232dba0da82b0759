/**
 * emailgateway.getmessages (GET /api/v1/emails) — the key's domain's message log (an account key's: its domains'), newest first.
 * Filters: Status (of any recipient; several comma-separated), MessageStatus (the message's own, as listed; several
 * comma-separated), Recipient, Tag, From/To (Unix times); paging Page (1-based) and Limit (≤ 100). Each message's To, Cc and Bcc recipients apart; its Status over all of them.
 * WithEngagement=1 adds each message's Opens and Clicks (every one recorded).
 */
import { defineCommand } from '../src/command';
import { messageStatus } from '../src/mail/lookup';
import { shownStatusSql } from '../src/delivery/leased';
import { messagesByOffset } from '../src/mail/message-log';
import { domainScope } from '../src/auth/account-keys';
import { truthy } from '../src/http/params';

export default defineCommand({
  name: 'emailgateway.getmessages',
  auth: 'sender',
  accountKey: 'can_read_analytics',
  rateLimit: { durationSec: 60 },
  errors: {
    1: 'Missing SenderAPIKey',
    2: 'Invalid DomainID or invalid user account',
    3: 'Invalid filter or paging value',
    13: 'Invalid SenderAPIKey',
    429: 'Too many requests',
  },
  async run(p, ctx) {
    const limit = Number(p.limit);
    const page = Number(p.page);
    const scope = domainScope(ctx);
    const { total, rows } = await messagesByOffset(
      ctx.db,
      {
        userId: scope.userId,
        ...(scope.domainIds !== null ? { domainIds: scope.domainIds } : {}),
        ...(p.from !== undefined ? { from: Number(p.from) * 1000 } : {}),
        ...(p.to !== undefined ? { to: Number(p.to) * 1000 + 999 } : {}),
        ...(p.tag !== undefined ? { tag: String(p.tag) } : {}),
        ...(p.recipient !== undefined ? { recipient: String(p.recipient) } : {}),
        ...(p.status !== undefined ? { status: String(p.status).split(',') } : {}),
        ...(p.messagestatus !== undefined ? { messageStatus: String(p.messagestatus).split(',') } : {}),
      },
      (page - 1) * limit,
      limit,
    );
    const ids = rows.map((r) => r.id as string);
    const deliveries = ids.length
      ? await ctx
          .db('deliveries')
          .whereIn('message_id', ids)
          .orderBy('id')
          .select('message_id', 'recipient', ctx.db.raw(`${shownStatusSql('deliveries')} as status`), 'kind')
      : [];
    const engagement = new Map<string, Record<string, number>>();
    if (ids.length && p.withengagement !== undefined && truthy(p.withengagement)) {
      const rows2 = await ctx
        .db('events')
        .whereIn('message_id', ids)
        .whereIn('type', ['opened', 'clicked'])
        .groupBy('message_id', 'type')
        .select('message_id', 'type')
        .count({ n: '*' });
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
          // By kind, as the message lookup shows them: a Bcc recipient is not one the message was addressed To.
          To: mine.filter((d: { kind: string }) => d.kind === 'to').map((d: { recipient: string }) => d.recipient),
          Cc: mine.filter((d: { kind: string }) => d.kind === 'cc').map((d: { recipient: string }) => d.recipient),
          Bcc: mine.filter((d: { kind: string }) => d.kind === 'bcc').map((d: { recipient: string }) => d.recipient),
          Subject: r.subject,
          Tags: JSON.parse(r.tags),
          Status: messageStatus(mine.map((d: { status: string }) => d.status)),
          CreatedAt: new Date(Number(r.created_at)).toISOString(),
          ...(p.withengagement !== undefined && truthy(p.withengagement) ? (engagement.get(r.id) ?? { Opens: 0, Clicks: 0 }) : {}),
        };
      }),
      Total: total,
      Page: page,
      Pages: Math.ceil(total / limit),
    };
  },
});
