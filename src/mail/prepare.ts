import type { Services, UserRow } from '../command';
import type { DomainRow } from '../domains/domains';
import { activationAdvice, STATUS } from '../domains/domains';
import { isEnabled, yesNo } from '../auth/users';
import { newMessageIdHeader } from './message-id';
import { shownAddressProblem } from '../smtp/message-rules';
import { estimateMimeSize, StoredContent, storedSizeOf } from './stored-content';
import { hasTags, renderTags } from '../personalize/render';
import type { Problem, SendRequest } from './send-request';
import { actionExists, journeyExists, listExists, subscriberFor, SubscriberContext, TemplateContent, templateFor } from '../lists/api';
import { Content, needsTrackId, needsVariants, recipientContext, trackingPlan } from '../tracking/apply';

/*
 * A send request made ready to store: the sender's state checked, its references (template, subscriber) resolved,
 * its recipients made distinct and the suppressed ones dropped, its content kept for the worker to compose at
 * delivery. Nothing here writes: src/mail/write-prepared.ts writes the rows, src/mail/accept-group.ts groups them.
 */

export interface Sender {
  user: UserRow;
  domain: DomainRow;
  apiKeyId: number | null;
  source: 'api' | 'smtp';
}

export type Accepted = { ok: true; messageId: string } | { ok: false; problems: Problem[] };

export interface PreparedRecipient {
  email: string;
  kind: 'to' | 'cc' | 'bcc';
  /** Set when the recipient's copy is tracked or carries a Link:Unsubscribe. */
  trackId?: string | null;
  /** The recipient's own MIME when it differs from the message's (no longer written: kept for rows of older releases). */
  mime?: Buffer;
}

export interface Prepared {
  messageId: string;
  message: Record<string, unknown>;
  /**
   * An API send's content, encoded into `message.content` only when the rows are written (writePrepared): a batch
   * accepted as one row carries the object (src/mail/pending-batches.ts) and the worker encodes it at expansion,
   * which took encodeContent's JSON (an eighth of the batch route's CPU) off the accept.
   */
  stored?: StoredContent;
  recipients: PreparedRecipient[];
  dropped: string[];
  scheduled: boolean;
}

/** What a request refers to, resolved before preparing it (template content, personalization subscriber). */
export interface SendRefs {
  template?: TemplateContent | null;
  subscriber?: SubscriberContext | null;
  /** A TargetListID send: the unsubscribe link and headers are always added. */
  listSend?: boolean;
  /** The campaign this message belongs to (one per member: messages.campaign_id + subscriber_id are unique). */
  campaignId?: number;
}

/** Checks of the sender's state against the request: account, domain, From. */
function check(sender: Sender, req: SendRequest): Problem[] {
  const problems: Problem[] = [];
  if (!isEnabled(sender.user)) problems.push({ code: 12, message: 'Invalid or deactivated user account' });
  else if (!yesNo(sender.user.verified)) problems.push({ code: 34, message: 'User account is not verified' });
  if (sender.domain.status !== STATUS.enabled) {
    problems.push({
      code: 32,
      message: `Domain ${sender.domain.domain} is not activated (status: ${sender.domain.status}); ${activationAdvice(sender.domain)}`,
    });
  }
  const fromDomain = req.from.email.split('@')[1]?.toLowerCase();
  if (req.from.email && fromDomain !== sender.domain.domain) {
    problems.push({ code: 3, message: `From address must be on ${sender.domain.domain}` });
  }
  // The name is the display name readers show: the SMTP front's rule for From (a spoofed "ceo@bank.test" <app@yours>).
  const shown = req.from.name ? shownAddressProblem(req.from.name, sender.domain.domain) : null;
  if (shown) problems.push({ code: 3, message: `From name ${shown}` });
  return problems;
}

/**
 * Templates read for one request, by TemplateID: each is read once and its strings shared by every message naming it
 * (a copy of a 10 MB row per message of a 1,000-message batch was 10 GB of heap from a 100 KB request).
 */
export type TemplateLookups = Map<number, Promise<TemplateContent | null>>;

/**
 * Resolves TemplateID, ListID/SubscriberID and JourneyID/ActionID against the sender's account (another
 * account's ids do not resolve): codes 15, 35, 36, 37, 38. Requests of one submission pass the same `templates`.
 */
export async function resolveRefs(
  services: Services,
  sender: Sender,
  req: SendRequest,
  templates: TemplateLookups = new Map(),
): Promise<{ refs: SendRefs; problems: Problem[] }> {
  const db = services.db;
  const uid = sender.user.id;
  const problems: Problem[] = [];
  const refs: SendRefs = {};
  if (req.templateId !== undefined) {
    const id = req.templateId;
    let read = templates.get(id);
    if (!read) templates.set(id, (read = templateFor(db, uid, id)));
    refs.template = await read;
    if (!refs.template) problems.push({ code: 15, message: `Invalid TemplateID: ${req.templateId} does not exist` });
  }
  if (req.subscriberId !== undefined && req.listId === undefined) {
    problems.push({ code: 36, message: `Invalid SubscriberID: ${req.subscriberId} does not exist without its ListID` });
  } else if (req.listId !== undefined) {
    if (!(await listExists(db, uid, req.listId))) problems.push({ code: 35, message: `Invalid ListID: ${req.listId} does not exist` });
    else if (req.subscriberId !== undefined) {
      refs.subscriber = await subscriberFor(db, uid, req.listId, req.subscriberId);
      if (!refs.subscriber) problems.push({ code: 36, message: `Invalid SubscriberID: ${req.subscriberId} does not exist on list ${req.listId}` });
    }
  }
  if (req.journeyId !== undefined && !(await journeyExists(db, uid, req.journeyId))) {
    problems.push({ code: 37, message: `Invalid JourneyID: ${req.journeyId} does not exist` });
  }
  if (req.actionId !== undefined && !(await actionExists(db, uid, req.journeyId, req.actionId))) {
    problems.push({ code: 38, message: `Invalid ActionID: ${req.actionId} does not exist` });
  }
  return { refs, problems };
}

/** Subject and bodies after the template: request fields win, the template fills what the request left out. */
export function contentOf(req: SendRequest, refs: SendRefs): { content: Content; problems: Problem[] } {
  const t = refs.template;
  const content: Content = {
    subject: req.subject || t?.subject || '',
    html: req.html ?? (t?.html || undefined),
    text: req.text ?? (t?.text || undefined),
  };
  const problems: Problem[] = [];
  if (t) {
    if (!content.subject.trim()) problems.push({ code: 8, message: 'Missing Subject: neither the request nor the template has one' });
    if (!content.html && !content.text) problems.push({ code: 10, message: 'Missing HTMLContent: neither the request nor the template has content' });
  }
  return { content, problems };
}

export function recipientsOf(req: SendRequest): { email: string; kind: 'to' | 'cc' | 'bcc' }[] {
  const all = [
    ...req.to.map((a) => ({ email: a.email, kind: 'to' as const })),
    ...req.cc.map((a) => ({ email: a.email, kind: 'cc' as const })),
    ...req.bcc.map((a) => ({ email: a.email, kind: 'bcc' as const })),
  ];
  // One delivery per distinct address: the first kind it appears under wins.
  const seen = new Set<string>();
  return all.filter((r) => !seen.has(r.email.toLowerCase()) && seen.add(r.email.toLowerCase()));
}

/** What a message stores instead of MIME (the worker composes it at delivery: src/delivery/compose-at-send.ts). */
function storedOf(sender: Sender, req: SendRequest, refs: SendRefs, content: Content, now: number, messageIdHeader: string) {
  const plan = trackingPlan(sender.domain, req, !!refs.listSend);
  const variants = needsVariants(plan, content);
  const stored: StoredContent = {
    from: req.from,
    to: req.to,
    cc: req.cc,
    replyTo: req.replyTo,
    subject: content.subject,
    html: content.html,
    text: content.text,
    headers: req.headers,
    attachments: req.attachments,
    messageIdHeader,
    date: req.sendAt ?? now,
    plan: variants ? plan : null,
    fields: variants && refs.subscriber ? refs.subscriber.fields : null,
  };
  return { stored, plan, variants };
}

/** The size as sent (SMTP_MAX_MESSAGE_BYTES) and as stored (the database's row limit), or code 42. */
async function sizeOf(services: Services, stored: StoredContent): Promise<{ mimeSize: number } | { problem: Problem }> {
  // As sent, not as stored: the relay and the recipients' servers judge the composed size (attachments grow by a
  // third in base64), and SMTP_MAX_MESSAGE_BYTES is what this install takes from its own SMTP clients too.
  const mimeSize = estimateMimeSize(stored);
  if (mimeSize > services.config.smtpMaxMessageBytes) {
    return {
      problem: {
        code: 42,
        message: `The message would be about ${mimeSize} bytes as sent; at most ${services.config.smtpMaxMessageBytes} are allowed (SMTP_MAX_MESSAGE_BYTES)`,
      },
    };
  }
  const storedSize = storedSizeOf(stored);
  const rowLimit = await services.store.maxRowBytes();
  if (storedSize > rowLimit) {
    return {
      problem: {
        code: 42,
        message: `The message holds about ${storedSize} bytes; this install's database takes at most ${rowLimit} in one message (max_allowed_packet)`,
      },
    };
  }
  return { mimeSize };
}

/**
 * The problems that refuse every message of a request whatever its recipients: the sender's state, the content, the
 * size (of a copy without recipients' addresses). campaign.launch asks before it launches, so a campaign the send
 * path would refuse is not launched only to fail on its first page.
 */
export async function refusedForEveryone(services: Services, sender: Sender, req: SendRequest, refs: SendRefs): Promise<Problem[]> {
  const { content, problems } = contentOf(req, refs);
  problems.unshift(...check(sender, req));
  if (problems.length) return problems;
  const size = await sizeOf(services, storedOf(sender, req, refs, content, Date.now(), newMessageIdHeader(sender.domain.domain)).stored);
  return 'problem' in size ? [size.problem] : [];
}

export async function prepare(
  services: Services,
  sender: Sender,
  req: SendRequest,
  refs: SendRefs,
  now: number,
  suppressed: Set<string>,
  trackIds: () => string,
): Promise<Prepared | Problem[]> {
  const { content, problems: contentProblems } = contentOf(req, refs);
  const problems = [...check(sender, req), ...contentProblems];
  if (problems.length) return problems;
  const unique = recipientsOf(req);
  const recipients: PreparedRecipient[] = unique.filter((r) => !suppressed.has(r.email.toLowerCase()));
  if (!recipients.length) {
    return [{ code: 14, message: `Email address is in the suppression list: ${unique.map((r) => r.email.toLowerCase()).join(', ')}` }];
  }
  const messageIdHeader = newMessageIdHeader(sender.domain.domain);
  const { stored, plan, variants } = storedOf(sender, req, refs, content, now, messageIdHeader);
  const size = await sizeOf(services, stored);
  if ('problem' in size) return [size.problem];
  const mimeSize = size.mimeSize;
  let subject = content.subject;
  if (variants && needsTrackId(plan, content)) {
    // Each recipient's copy carries its own track id (tokens, lookups by track_id).
    for (const r of recipients) r.trackId = trackIds();
  }
  if (variants && hasTags(subject)) {
    // The stored subject is the first recipient's, as when its copy was composed here.
    const first = recipients[0];
    const fields = refs.subscriber?.fields ?? { EmailAddress: first.email };
    subject = renderTags(subject, recipientContext({ config: services.config, domain: sender.domain, fields }, first.trackId ?? null).ctx, 'header');
  }
  const messageId = services.rowIds.next(now);
  return {
    messageId,
    scheduled: req.sendAt !== undefined,
    stored,
    recipients,
    dropped: unique.filter((r) => suppressed.has(r.email.toLowerCase())).map((r) => r.email),
    message: {
      id: messageId,
      user_id: sender.user.id,
      domain_id: sender.domain.id,
      api_key_id: sender.apiKeyId,
      source: sender.source,
      from_email: req.from.email,
      subject: subject.slice(0, 998),
      tags: JSON.stringify(req.tags),
      metadata: Object.keys(req.metadata).length ? JSON.stringify(req.metadata) : null,
      message_id_header: messageIdHeader,
      mime: null,
      content: null, // encodeContent(stored) when the rows are written
      mime_size: mimeSize,
      send_at: req.sendAt ?? null,
      template_id: refs.template?.id ?? null,
      list_id: refs.subscriber?.listId ?? req.listId ?? null,
      subscriber_id: refs.subscriber?.id ?? null,
      journey_id: req.journeyId ?? null,
      action_id: req.actionId ?? null,
      campaign_id: refs.campaignId ?? null,
      // Its copy is checked at delivery against the list's members and PerList entries, as this accept picked them.
      list_send: refs.listSend ? 1 : null,
      created_at: now,
    },
  };
}
