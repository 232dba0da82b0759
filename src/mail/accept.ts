import crypto from 'node:crypto';
import type { Services, UserRow } from '../command';
import type { DomainRow } from '../domains/domains';
import { STATUS } from '../domains/domains';
import { isEnabled, yesNo } from '../auth/users';
import { suppressedAmong } from '../suppression/suppressions';
import { composeMime, newMessageIdHeader } from './compose';
import { reserveQuota } from './quota';
import type { Problem, SendRequest } from './send-request';
import { enqueueDeliveries } from '../delivery/enqueue';
import { EventInput, recordEvents } from '../events/record';

export interface Sender {
  user: UserRow;
  domain: DomainRow;
  apiKeyId: number | null;
  source: 'api' | 'smtp';
}

export type Accepted = { ok: true; messageId: string } | { ok: false; problems: Problem[] };

export interface Prepared {
  messageId: string;
  message: Record<string, unknown>;
  recipients: { email: string; kind: 'to' | 'cc' | 'bcc' }[];
  dropped: string[];
  scheduled: boolean;
}

/** Checks of the sender's state against the request: account, domain, From, references. */
function check(sender: Sender, req: SendRequest): Problem[] {
  const problems: Problem[] = [];
  if (!isEnabled(sender.user)) problems.push({ code: 12, message: 'Invalid or deactivated user account' });
  else if (!yesNo(sender.user.verified)) problems.push({ code: 34, message: 'User account is not verified' });
  if (sender.domain.status !== STATUS.enabled) {
    problems.push({ code: 32, message: `Domain ${sender.domain.domain} is not activated (status: ${sender.domain.status}); verify its DNS records first` });
  }
  const fromDomain = req.from.email.split('@')[1]?.toLowerCase();
  if (req.from.email && fromDomain !== sender.domain.domain) {
    problems.push({ code: 3, message: `From address must be on ${sender.domain.domain}` });
  }
  // Lists, templates and journeys arrive with their own issue; until then no such id resolves.
  const unresolved: [keyof SendRequest, number, string][] = [
    ['templateId', 15, 'TemplateID'],
    ['targetListId', 16, 'TargetListID'],
    ['listId', 35, 'ListID'],
    ['subscriberId', 36, 'SubscriberID'],
    ['journeyId', 37, 'JourneyID'],
    ['actionId', 38, 'ActionID'],
  ];
  for (const [key, code, name] of unresolved) {
    if (req[key] !== undefined) problems.push({ code, message: `Invalid ${name}: ${req[key]} does not exist` });
  }
  return problems;
}

function recipientsOf(req: SendRequest): { email: string; kind: 'to' | 'cc' | 'bcc' }[] {
  const all = [
    ...req.to.map((a) => ({ email: a.email, kind: 'to' as const })),
    ...req.cc.map((a) => ({ email: a.email, kind: 'cc' as const })),
    ...req.bcc.map((a) => ({ email: a.email, kind: 'bcc' as const })),
  ];
  // One delivery per distinct address: the first kind it appears under wins.
  const seen = new Set<string>();
  return all.filter((r) => !seen.has(r.email.toLowerCase()) && seen.add(r.email.toLowerCase()));
}

async function prepare(services: Services, sender: Sender, req: SendRequest, now: number, suppressed: Set<string>): Promise<Prepared | Problem[]> {
  const problems = check(sender, req);
  if (problems.length) return problems;
  const unique = recipientsOf(req);
  const recipients = unique.filter((r) => !suppressed.has(r.email.toLowerCase()));
  if (!recipients.length) {
    return [{ code: 14, message: `Email address is in the suppression list: ${unique.map((r) => r.email.toLowerCase()).join(', ')}` }];
  }
  const messageIdHeader = newMessageIdHeader(sender.domain.domain);
  const mime = await composeMime({
    from: req.from,
    to: req.to,
    cc: req.cc,
    replyTo: req.replyTo,
    subject: req.subject,
    html: req.html,
    text: req.text,
    headers: req.headers,
    attachments: req.attachments,
    messageIdHeader,
    date: new Date(req.sendAt ?? now),
  });
  const messageId = crypto.randomUUID();
  return {
    messageId,
    scheduled: req.sendAt !== undefined,
    recipients,
    dropped: unique.filter((r) => suppressed.has(r.email.toLowerCase())).map((r) => r.email),
    message: {
      id: messageId,
      user_id: sender.user.id,
      domain_id: sender.domain.id,
      api_key_id: sender.apiKeyId,
      source: sender.source,
      from_email: req.from.email,
      subject: req.subject,
      tags: JSON.stringify(req.tags),
      message_id_header: messageIdHeader,
      mime,
      mime_size: mime.length,
      send_at: req.sendAt ?? null,
      created_at: now,
    },
  };
}

/**
 * Writes prepared messages with one delivery per recipient and a `queued` (or `scheduled`) event per delivery
 * (plus a `suppressed` event per dropped recipient) in one transaction, after reserving the sending quota,
 * then enqueues the deliveries. Resolves false, writing nothing, when the quota would be passed.
 */
export async function persistPrepared(services: Services, sender: Sender, ok: Prepared[], now: number): Promise<boolean> {
  const total = ok.reduce((n, p) => n + p.recipients.length, 0);
  const undoQuota = await reserveQuota(services.db, sender.user, total, now);
  if (!undoQuota) return false;
  const within = await services.db.transaction(async (trx) => {
    for (let i = 0; i < ok.length; i += 200) await trx('messages').insert(ok.slice(i, i + 200).map((p) => p.message));
    const deliveryRows = ok.flatMap((p) =>
      p.recipients.map((r) => ({
        message_id: p.messageId,
        user_id: sender.user.id,
        domain_id: sender.domain.id,
        recipient: r.email,
        recipient_domain: r.email.split('@')[1].toLowerCase(),
        kind: r.kind,
        status: p.scheduled ? 'scheduled' : 'queued',
        attempts: 0,
        next_attempt_at: (p.message.send_at as number | null) ?? now,
        created_at: now,
        updated_at: now,
      })),
    );
    for (let i = 0; i < deliveryRows.length; i += 500) await trx('deliveries').insert(deliveryRows.slice(i, i + 500));
    const ids = await trx('deliveries')
      .whereIn('message_id', ok.map((p) => p.messageId))
      .select('id', 'message_id', 'recipient', 'status');
    const events: EventInput[] = ids.map((d: { id: number; message_id: string; recipient: string; status: string }) => ({
      message_id: d.message_id,
      delivery_id: Number(d.id) as number | null,
      domain_id: sender.domain.id,
      user_id: sender.user.id,
      type: d.status === 'scheduled' ? 'scheduled' : 'queued',
      created_at: now,
      data: { recipient: d.recipient },
    }));
    for (const p of ok) {
      for (const email of p.dropped) {
        events.push({ message_id: p.messageId, delivery_id: null, domain_id: sender.domain.id, user_id: sender.user.id, type: 'suppressed', created_at: now, data: { recipient: email } });
      }
    }
    await recordEvents(trx, events);
    return ids.map((d: { id: number; message_id: string }) => ({ id: Number(d.id), messageId: d.message_id }));
  }).catch(async (err) => {
    await undoQuota().catch(() => undefined);
    throw err;
  });
  const sendAtOf = new Map(ok.map((p) => [p.messageId, (p.message.send_at as number | null) ?? now]));
  try {
    await enqueueDeliveries(services, within.map((d: { id: number; messageId: string }) => ({ id: d.id, attempts: 0, runAt: sendAtOf.get(d.messageId)! })));
  } catch (err) {
    // Committed is accepted: the sweeper enqueues these from the database once the queue answers again.
    services.logger.warn('enqueue failed; the sweeper will pick the deliveries up', { error: (err as Error).message });
  }
  return true;
}

export const QUOTA_PROBLEM: Problem = { code: 17, message: 'Email sending limit reached: the daily or monthly quota of this account is used up' };

/**
 * Accepts API requests: validates each against the sender's state, composes its MIME and persists the
 * accepted ones together. Suppressed recipients among others are dropped; all suppressed → code 14.
 */
export async function acceptMessages(services: Services, sender: Sender, reqs: SendRequest[]): Promise<Accepted[]> {
  const now = Date.now();
  // One suppression lookup for every recipient of every message.
  const suppressed = await suppressedAmong(services.db, sender.domain.id, reqs.flatMap((r) => recipientsOf(r).map((x) => x.email)));
  const prepared = await Promise.all(reqs.map((r) => prepare(services, sender, r, now, suppressed)));
  const ok = prepared.filter((p): p is Prepared => !Array.isArray(p));
  if (ok.length && !(await persistPrepared(services, sender, ok, now))) {
    return prepared.map((p) => ({ ok: false as const, problems: Array.isArray(p) ? p : [QUOTA_PROBLEM] }));
  }
  return prepared.map((p) => (Array.isArray(p) ? { ok: false, problems: p } : { ok: true, messageId: p.messageId }));
}
