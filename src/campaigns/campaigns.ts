/** Campaign rows, their progress and the legacy (Octeth-style) shape the campaign commands answer with. */
import type { Knex } from 'knex';
import type { Db } from '../db';
import type { Logger } from '../logger';
import { formatTime } from '../auth/users';
import { STATUS } from '../domains/domains';
import { builtRequest, SendRequest } from '../mail/send-request';
import { CampaignProgress, DeliveryCounts, NO_DELIVERIES } from './progress';

export interface CampaignRow {
  id: number;
  user_id: number;
  list_id: number | null;
  domain_id: number | null;
  name: string;
  subject: string;
  html: string | null;
  text: string | null;
  from_email: string | null;
  from_name: string;
  status: string;
  cursor: number;
  recipients: number;
  queued: number;
  skipped: number;
  error: string | null;
  created_at: number;
  updated_at: number;
  launched_at: number | null;
  completed_at: number | null;
}

export const CAMPAIGN_STATUS = { draft: 'draft', sending: 'sending', completed: 'completed', cancelled: 'cancelled', failed: 'failed' } as const;

/** HTML and plain text of a campaign, each (as templates): every message stores a copy, and a page holds several. */
export const CAMPAIGN_CONTENT_MAX_BYTES = 5 * 1024 * 1024;

/** A campaign's progress: its row's figures and its deliveries' counts. */
export interface Progress extends DeliveryCounts {
  recipients: number;
  queued: number;
  skipped: number;
}

/** The caller's reach over campaigns: an account key limited to some domains sees only theirs (null: all). */
export interface CampaignScope {
  userId: number;
  domainIds: number[] | null;
}

/**
 * Limits a campaigns query to the scope: launched campaigns by the domain they send from, drafts by their From
 * address's domain (a draft without a From address is outside any limited scope: where it would send from is not
 * decided yet).
 */
export async function inCampaignScope(db: Db, q: Knex.QueryBuilder, scope: CampaignScope): Promise<void> {
  const ids = scope.domainIds;
  if (!ids) return;
  const names: string[] = ids.length ? await db('sender_domains').whereIn('id', ids).where({ user_id: scope.userId }).pluck('domain') : [];
  q.where((w) => {
    w.whereIn('domain_id', ids.length ? ids : [-1]).orWhere((draft) => {
      draft.whereNull('domain_id').where((from) => {
        // Domain names hold only letters, digits, dots and hyphens: nothing LIKE reads as a wildcard.
        for (const name of names) from.orWhereRaw('lower(`from_email`) like ?', [`%@${name.toLowerCase()}`]);
        if (!names.length) from.whereRaw('1 = 0');
      });
    });
  });
}

/** One campaign of the user within the scope (an account key's domains): outside it, not found. Every lookup by id goes here. */
export async function findCampaignInScope(db: Db, scope: CampaignScope, id: unknown): Promise<CampaignRow | undefined> {
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n <= 0) return undefined;
  const q = db('campaigns').where({ id: n, user_id: scope.userId });
  await inCampaignScope(db, q, scope);
  return q.first();
}

/**
 * Progress of campaigns: recipients (members found at launch), queued (messages accepted so far) and skipped
 * (members a page read but the send path refused one by one, as suppressed since the launch) from each row; sent
 * (deliveries that got a final answer, a copy suppressed after its page was accepted included), cancelled (copies cancelled before they were sent), delivered, bounced,
 * opened and clicked (unique, per delivery) counted from its deliveries, live for small campaigns and bounded in
 * cost for large ones (src/campaigns/progress.ts).
 */
export async function progressOf(
  db: Knex,
  counts: CampaignProgress,
  rows: CampaignRow[],
  onRefreshError: (err: unknown) => void,
): Promise<Map<number, Progress>> {
  const out = new Map<number, Progress>();
  for (const r of rows) {
    const d = r.status === CAMPAIGN_STATUS.draft ? NO_DELIVERIES : await counts.countsOf(db, Number(r.id), Number(r.queued), onRefreshError);
    out.set(Number(r.id), { recipients: Number(r.recipients), queued: Number(r.queued), skipped: Number(r.skipped), ...d });
  }
  return out;
}

/** What a failed background recount does: a warning (the counts shown stay the last ones made). */
export function refreshFailed(ctx: { logger: Logger }): (err: unknown) => void {
  return (err) => ctx.logger.warn('campaign progress recount failed', { error: (err as Error).message });
}

/** The legacy shape (campaign.get, campaigns.get). */
export function presentCampaign(row: CampaignRow, p: Progress): Record<string, unknown> {
  return {
    CampaignID: Number(row.id),
    CampaignName: row.name,
    Subject: row.subject,
    ListID: row.list_id === null ? null : Number(row.list_id),
    FromEmail: row.from_email,
    FromName: row.from_name,
    HTMLContent: row.html,
    PlainContent: row.text,
    Status: row.status,
    Error: row.error,
    CreatedAt: formatTime(row.created_at),
    LaunchedAt: formatTime(row.launched_at),
    CompletedAt: formatTime(row.completed_at),
    Progress: {
      Recipients: p.recipients,
      Queued: p.queued,
      Skipped: p.skipped,
      Sent: p.sent,
      Cancelled: p.cancelled,
      Delivered: p.delivered,
      Bounced: p.bounced,
      Opened: p.opened,
      Clicked: p.clicked,
    },
  };
}

/**
 * Who a campaign sends as: its own From, else its list's sender address, else `noreply@` the account's first
 * Enabled domain (of those `within`, when given). The From must be on an Enabled domain of the account. Answers the address and domain, or why not.
 */
export async function senderOf(
  db: Db,
  row: Pick<CampaignRow, 'user_id' | 'list_id' | 'from_email' | 'from_name'>,
  within?: number[],
): Promise<{ email: string; name: string; domainId: number } | { problem: string }> {
  let email = row.from_email ?? '';
  let name = row.from_name;
  if (!email && row.list_id !== null) {
    const list = await db('lists').where({ id: row.list_id, user_id: row.user_id }).first('sender_email_address', 'sender_name');
    email = list?.sender_email_address ?? '';
    name ||= list?.sender_name ?? '';
  }
  if (!email) {
    const q = db('sender_domains').where({ user_id: row.user_id, status: STATUS.enabled });
    const first = await (within ? q.whereIn('id', within) : q).orderBy('id').first('domain');
    if (!first) return { problem: `${within ? 'This API key' : 'The account'} has no Enabled sender domain to send the campaign from` };
    email = `noreply@${first.domain}`;
  }
  const domain = email.split('@')[1]?.toLowerCase() ?? '';
  const row2 = await db('sender_domains').where({ user_id: row.user_id, domain }).first('id', 'status');
  if (!row2 || row2.status !== STATUS.enabled) return { problem: `The From address ${email} is not on an Enabled sender domain of this account` };
  return { email, name, domainId: Number(row2.id) };
}

/** The send request every member's message is made from (personalised per member by the list-send path). */
export function campaignRequest(row: CampaignRow, from: { email: string; name: string }): SendRequest {
  return builtRequest({
    subject: row.subject,
    from: { name: from.name, email: from.email },
    html: row.html ?? undefined,
    text: row.text ?? undefined,
    tags: [`campaign:${row.id}`],
  });
}
