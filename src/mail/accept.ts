import crypto from 'node:crypto';
import { Coalescer } from '../coalesce';
import { parseTags } from './tags';
import { affectedRows, BatchTx, insertRows, isMysql, placeholders, sql, Stmt } from '../db';
import { CommitStatement, IdempotencySuperseded, leaseHeldCheck } from '../idempotency/keys';
import type { CommandContext, Services, UserRow } from '../command';
import type { DomainRow } from '../domains/domains';
import { STATUS } from '../domains/domains';
import { isEnabled, yesNo } from '../auth/users';
import { isCheckFailure, patternSuppressedAmong, suppressedAmong, suppressedAmongShared, suppressionGuards } from '../suppression/suppressions';
import { newMessageIdHeader } from './message-id';
import { encodeContent, estimateMimeSize, StoredContent } from './stored-content';
import { hasTags, renderTags } from '../personalize/render';
import { reserveQuota } from './quota';
import type { Problem, SendRequest } from './send-request';
import { enqueueDeliveries } from '../delivery/enqueue';
import { EventInput, eventsAfterInsert, recordEvents } from '../events/record';
import { encodePending, enqueueExpansion, insertPending, PendingEntry } from './pending-batches';
import { actionExists, journeyExists, listExists, subscriberFor, SubscriberContext, TemplateContent, templateFor } from '../lists/api';
import { Content, needsTrackId, needsVariants, recipientContext, trackingPlan } from '../tracking/apply';

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
    problems.push({ code: 32, message: `Domain ${sender.domain.domain} is not activated (status: ${sender.domain.status}); verify its DNS records first` });
  }
  const fromDomain = req.from.email.split('@')[1]?.toLowerCase();
  if (req.from.email && fromDomain !== sender.domain.domain) {
    problems.push({ code: 3, message: `From address must be on ${sender.domain.domain}` });
  }
  return problems;
}

/**
 * Resolves TemplateID, ListID/SubscriberID and JourneyID/ActionID against the sender's account (another
 * account's ids do not resolve): codes 15, 35, 36, 37, 38.
 */
export async function resolveRefs(services: Services, sender: Sender, req: SendRequest): Promise<{ refs: SendRefs; problems: Problem[] }> {
  const db = services.db;
  const uid = sender.user.id;
  const problems: Problem[] = [];
  const refs: SendRefs = {};
  if (req.templateId !== undefined) {
    refs.template = await templateFor(db, uid, req.templateId);
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
function contentOf(req: SendRequest, refs: SendRefs): { content: Content; problems: Problem[] } {
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

async function prepare(
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
  // Stored, not composed: the worker makes the MIME at delivery (src/delivery/compose-at-send.ts).
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
  const messageId = crypto.randomUUID();
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
      mime_size: estimateMimeSize(stored),
      send_at: req.sendAt ?? null,
      template_id: refs.template?.id ?? null,
      list_id: refs.subscriber?.listId ?? req.listId ?? null,
      subscriber_id: refs.subscriber?.id ?? null,
      journey_id: req.journeyId ?? null,
      action_id: req.actionId ?? null,
      campaign_id: refs.campaignId ?? null,
      created_at: now,
    },
  };
}

/** Multi-row insert batches of at most `rows` rows and about `bytes` bytes (MySQL's packet limit). */
function chunksOf<T>(items: T[], rows: number, bytes: number, size: (t: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let curBytes = 0;
  for (const it of items) {
    const b = size(it);
    if (cur.length && (cur.length >= rows || curBytes + b > bytes)) {
      out.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(it);
    curBytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Tags of each prepared message, so the rollups need not read back rows this transaction just wrote. */
function tagsOfPrepared(ok: Prepared[]): Map<string, string[]> {
  return new Map(ok.map((p) => [p.messageId, parseTags(p.message.tags)]));
}

/**
 * Raised inside a transaction (so it rolls back) when guard statements touched no row: an Idempotency-Key lease
 * taken over, or a pending batch another expander claimed first. `indexes` are the failed guards' positions.
 */
export class GuardLost extends Error {
  constructor(readonly indexes: number[]) {
    super('guard statement touched no row');
  }
}

/**
 * Writes prepared messages (of any senders) with one delivery per recipient and a `queued` (or `scheduled`)
 * event per delivery, plus a `suppressed` event per dropped recipient, inside the caller's transaction.
 * `guards` go first and must each touch exactly one row, else GuardLost. With `oneRowCheck` (MySQL, where the
 * delivery ids follow from the INSERTs), that statement follows each guard instead, failing the round trip at once
 * when the guard touched no row (ER_SUBQUERY_NO_1_ROW, not GuardLost), so the COMMIT goes in the same round trip.
 * Returns the delivery ids with their message.
 */
export async function writePrepared(
  tx: BatchTx,
  entries: PendingEntry[],
  guards: Stmt[],
  oneRowCheck?: () => Stmt,
): Promise<{ id: number; messageId: string }[]> {
  const trx = tx.q;
  const ok = entries.map((e) => e.p);
  for (const p of ok) if (p.stored) p.message.content = encodeContent(p.stored);
  const nowOf = new Map(entries.map((e) => [e.p.messageId, e.now]));
  // Idempotent replies first (each must still hold its lease), then the rows, then reading back the delivery ids:
  // one round trip where the database allows.
  const checked = !!oneRowCheck && tx.idStep !== null && guards.length > 0;
  const stmts: Stmt[] = checked ? guards.flatMap((g) => [g, oneRowCheck!()]) : [...guards];
  for (const chunk of chunksOf(
    ok.map((p) => p.message),
    200,
    4 << 20,
    (m) => (m.mime as Buffer | null)?.length ?? (m.content as Buffer | string).length,
  ))
    stmts.push(insertRows(trx, 'messages', chunk));
  const deliveryRows = ok.flatMap((p) => {
    const now = nowOf.get(p.messageId)!;
    return p.recipients.map((r) => ({
      message_id: p.messageId,
      user_id: p.message.user_id,
      domain_id: p.message.domain_id,
      recipient: r.email,
      recipient_domain: r.email.split('@')[1].toLowerCase(),
      kind: r.kind,
      status: p.scheduled ? 'scheduled' : 'queued',
      attempts: 0,
      next_attempt_at: (p.message.send_at as number | null) ?? now,
      created_at: now,
      updated_at: now,
      track_id: r.trackId ?? null,
      mime: r.mime ?? null,
    }));
  });
  const deliveryChunks = chunksOf(deliveryRows, 500, 4 << 20, (r) => r.mime?.length ?? 0);
  if (tx.idStep !== null) return writeKnownIds(tx, ok, nowOf, stmts, checked ? 0 : guards.length, deliveryChunks, tx.idStep);
  for (const chunk of deliveryChunks) stmts.push(insertRows(trx, 'deliveries', chunk));
  const writes = stmts.length;
  for (let i = 0; i < ok.length; i += 1000) {
    const some = ok.slice(i, i + 1000).map((p) => p.messageId);
    stmts.push(sql(trx, 'select `id`, `message_id`, `recipient`, `status` from `deliveries` where `message_id` in ' + placeholders(some.length), some));
  }
  const results = await tx.run(stmts);
  const lost = guards.flatMap((_, i) => (affectedRows(results[i]) !== 1 ? [i] : []));
  if (lost.length) throw new GuardLost(lost);
  const ids = results.slice(writes).flat() as { id: number; message_id: string; recipient: string; status: string }[];
  const byMessage = new Map(ok.map((p) => [p.messageId, p]));
  const events: EventInput[] = ids.map((d) => {
    const m = byMessage.get(d.message_id)!.message;
    return {
      message_id: d.message_id,
      delivery_id: Number(d.id),
      domain_id: Number(m.domain_id),
      user_id: Number(m.user_id),
      type: d.status === 'scheduled' ? 'scheduled' : 'queued',
      created_at: nowOf.get(d.message_id)!,
      data: { recipient: d.recipient },
    };
  });
  events.push(...droppedEvents(ok, nowOf));
  await recordEvents(trx, events, { tags: tagsOfPrepared(ok) }, tx);
  return ids.map((d) => ({ id: Number(d.id), messageId: d.message_id }));
}

/** A `suppressed` event per recipient dropped for being on the suppression list. */
function droppedEvents(ok: Prepared[], nowOf: Map<string, number>): EventInput[] {
  return ok.flatMap((p) =>
    p.dropped.map((email) => ({
      message_id: p.messageId,
      delivery_id: null,
      domain_id: Number(p.message.domain_id),
      user_id: Number(p.message.user_id),
      type: 'suppressed',
      created_at: nowOf.get(p.messageId)!,
      data: { recipient: email },
    })),
  );
}

type DeliveryRow = { message_id: string; user_id: unknown; domain_id: unknown; recipient: string; status: string; created_at: number };

/**
 * writePrepared where the deliveries' ids follow from their INSERTs' results (BatchTx.idStep): the events go in
 * the same round trip as the rows (eventsAfterInsert), and so does the COMMIT when no guard needs checking first,
 * instead of reading the ids back and sending the events and the COMMIT in a second round trip (one of the two
 * round trips of every accept group, which is most of a single send's wait).
 */
async function writeKnownIds(
  tx: BatchTx,
  ok: Prepared[],
  nowOf: Map<string, number>,
  stmts: Stmt[],
  guards: number,
  chunks: DeliveryRow[][],
  idStep: number,
): Promise<{ id: number; messageId: string }[]> {
  const eventOf = (d: DeliveryRow, position: number): EventInput => ({
    message_id: d.message_id,
    delivery_id: position,
    domain_id: Number(d.domain_id),
    user_id: Number(d.user_id),
    type: d.status === 'scheduled' ? 'scheduled' : 'queued',
    created_at: d.created_at,
    data: { recipient: d.recipient },
  });
  const inserts = chunks.map((rows) => ({ insert: insertRows(tx.q, 'deliveries', rows), events: rows.map(eventOf) }));
  const first = stmts.length; // each chunk's INSERT, then its SET and, when it has events, their INSERT
  stmts.push(...(await eventsAfterInsert(tx.q, inserts, droppedEvents(ok, nowOf), idStep, { tags: tagsOfPrepared(ok) })));
  const results = guards ? await tx.run(stmts) : await tx.commit(stmts);
  const lost = results.slice(0, guards).flatMap((r, i) => (affectedRows(r) !== 1 ? [i] : []));
  if (lost.length) throw new GuardLost(lost);
  const out: { id: number; messageId: string }[] = [];
  let at = first;
  for (const rows of chunks) {
    // A plain multi-row INSERT (no IGNORE) makes every row or fails: nothing to check once committed.
    const head = results[at] as { insertId: number };
    rows.forEach((d, i) => out.push({ id: Number(head.insertId) + i * idStep, messageId: d.message_id }));
    at += rows.length ? 3 : 2;
  }
  return out;
}

interface PersistItem {
  services: Services;
  sender: Sender;
  ok: Prepared[];
  now: number;
  /** The request's idempotent reply, committed with its rows (refused when a retry took its key over). */
  reply?: CommitStatement;
  /**
   * Recipients (lowercase) not yet checked against the sender domain's suppression lists: the group's transaction
   * checks them (suppressionGuards) and writes nothing for the item if one is listed.
   */
  check?: string[];
}

/** The item's recipients found on a suppression list (lowercase): nothing was written; the caller prepares again. */
type Suppressed = { suppressed: Set<string> };

type Persisted = 'accepted' | 'quota' | 'superseded' | Suppressed;

/**
 * Raised when a check statement failed the group's round trip (so it rolled back): a suppression guard found a
 * listed recipient, or an Idempotency-Key lease was taken over (keys.ts leaseHeldCheck). Which one is not known:
 * the group goes again carefully (settleChecks).
 */
class CheckFailed extends Error {
  constructor() {
    super('a check statement of the group failed');
  }
}

/** Raised inside the transaction (so it rolls back) when some items' Idempotency-Key leases were taken over. */
class LeaseLost extends Error {
  constructor(readonly items: PersistItem[]) {
    super('idempotency lease lost');
  }
}

/**
 * Persists a group of submissions in one transaction: quota first (per user, for the group's total; one by
 * one if the total would pass a limit, so earlier submissions still go), then the rows, then the queue.
 * Resolves one boolean per submission: false when its user's quota would be passed (nothing written for it).
 */
async function persistGroup(items: PersistItem[], pending?: Buffer, careful = false): Promise<Persisted[]> {
  // Embedded: no round trip to save, so the lists are read first.
  if (items.some((it) => it.check) && !isMysql(items[0].services.db)) return settleChecks(items, pending);
  try {
    return await persistOnce(items, pending, careful);
  } catch (err) {
    if (err instanceof CheckFailed) return settleChecks(items, pending);
    if (!(err instanceof LeaseLost)) throw err;
    // Rolled back, quota returned: the others go again without the superseded ones.
    const lost = new Set(err.items);
    const rest = items.filter((it) => !lost.has(it));
    const done = rest.length ? await persistGroup(rest, pending) : [];
    return items.map((it) => (lost.has(it) ? 'superseded' : done[rest.indexOf(it)]));
  }
}

/**
 * Reads the suppression lists for the items not yet checked (one query per domain): an item with a listed recipient
 * goes back to its caller (Suppressed), the others are written, now checked, with their leases checked one by one
 * (a lost one is found and only its item superseded). New entries made meanwhile are missed as they were when every
 * send read the lists before its group.
 */
async function settleChecks(items: PersistItem[], pending?: Buffer): Promise<Persisted[]> {
  const { services } = items[0];
  const byDomain = new Map<number, string[]>();
  for (const it of items) {
    if (!it.check) continue;
    const list = byDomain.get(it.sender.domain.id);
    if (list) list.push(...it.check);
    else byDomain.set(it.sender.domain.id, [...it.check]);
  }
  const listed = new Map<number, Set<string>>();
  for (const [domain, emails] of byDomain) listed.set(domain, await suppressedAmong(services.store, domain, emails, { patterns: false }));
  const found = items.map((it) => new Set((it.check ?? []).filter((e) => listed.get(it.sender.domain.id)!.has(e))));
  const clean = items.filter((_, i) => !found[i].size);
  for (const it of clean) it.check = undefined;
  const done = clean.length ? await persistGroup(clean, pending, true) : [];
  return items.map((it, i) => (found[i].size ? { suppressed: found[i] } : done[clean.indexOf(it)]));
}

/** One try at a group; `careful`: each Idempotency-Key lease checked by its UPDATE's row count (a second round trip). */
async function persistOnce(items: PersistItem[], pending?: Buffer, careful = false): Promise<Persisted[]> {
  const { services } = items[0];
  const accepted = new Array<boolean>(items.length).fill(false);
  const undos: (() => Promise<void>)[] = [];
  const byUser = new Map<number, number[]>();
  items.forEach((it, i) => {
    const list = byUser.get(it.sender.user.id);
    if (list) list.push(i);
    else byUser.set(it.sender.user.id, [i]);
  });
  const count = (i: number) => items[i].ok.reduce((n, p) => n + p.recipients.length, 0);
  try {
    for (const idx of byUser.values()) {
      const first = items[idx[0]];
      const together =
        idx.length > 1
          ? await reserveQuota(
              services.db,
              first.sender.user,
              idx.reduce((n, i) => n + count(i), 0),
              first.now,
            )
          : null;
      if (together) {
        undos.push(together);
        for (const i of idx) accepted[i] = true;
        continue;
      }
      for (const i of idx) {
        const undo = await reserveQuota(services.db, items[i].sender.user, count(i), items[i].now);
        if (undo) {
          undos.push(undo);
          accepted[i] = true;
        }
      }
    }
    const outcome = accepted.map((a): Persisted => (a ? 'accepted' : 'quota'));
    const going = items.filter((_, i) => accepted[i]);
    if (!going.length) return outcome;
    const entries = going.flatMap((it) => it.ok.map((p) => ({ p, now: it.now })));
    if (pending) {
      await stashPending(going[0], entries, pending);
      return outcome;
    }
    const runAt = new Map(entries.map((e) => [e.p.messageId, (e.p.message.send_at as number | null) ?? e.now]));
    const guarded = going.filter((it) => it.reply);
    const written = (
      await services.store
        .batchTransaction((tx) => {
          // First in the transaction's round trip: a listed recipient fails it before any row is written.
          tx.later(suppressionChecks(tx.q, going));
          return writePrepared(
            tx,
            entries,
            guarded.map((it) => it.reply!(tx.q)),
            careful ? undefined : () => leaseHeldCheck(tx.q),
          );
        })
        .catch((err) => {
          if (isCheckFailure(err)) throw new CheckFailed();
          throw err instanceof GuardLost ? new LeaseLost(err.indexes.map((i) => guarded[i])) : err;
        })
    ).map((d) => ({ id: d.id, messageId: d.messageId, runAt: runAt.get(d.messageId)! }));
    // Committed is accepted: callers get their answer now and the queue hears of the rows meanwhile (one round
    // trip fewer per group on the SMTP front's critical path). A lost enqueue is the sweeper's to recover.
    enqueueDeliveries(
      services,
      written.map((d) => ({ id: d.id, attempts: 0, runAt: d.runAt })),
    ).catch((err) => services.logger.warn('enqueue failed; the sweeper will pick the deliveries up', { error: (err as Error).message }));
    return outcome;
  } catch (err) {
    for (const undo of undos) await undo().catch(() => undefined);
    throw err;
  }
}

/** The suppression guards for the items' unchecked recipients, per sender domain. */
function suppressionChecks(q: BatchTx['q'], items: PersistItem[]): Stmt[] {
  const byDomain = new Map<number, Set<string>>();
  for (const it of items) {
    if (!it.check) continue;
    const set = byDomain.get(it.sender.domain.id) ?? new Set<string>();
    for (const e of it.check) set.add(e);
    byDomain.set(it.sender.domain.id, set);
  }
  return [...byDomain].flatMap(([domain, emails]) => suppressionGuards(q, domain, [...emails]));
}

/**
 * One submission's prepared messages as one pending_batches row (src/mail/pending-batches.ts), committed with its
 * idempotent reply, then one job that names the row. A lost job is the sweeper's to recover, as for deliveries.
 */
async function stashPending(item: PersistItem, entries: PendingEntry[], payload: Buffer): Promise<void> {
  const { services } = item;
  const id = crypto.randomUUID();
  await services.store.batchTransaction(async (tx) => {
    const row = insertPending(tx.q, { id, userId: item.sender.user.id, domainId: item.sender.domain.id, entries, payload, now: item.now });
    if (!item.reply) return void tx.later([row]);
    const [replied] = await tx.run([item.reply(tx.q), row]);
    if (affectedRows(replied) !== 1) throw new LeaseLost([item]);
  });
  enqueueExpansion(services, id).catch((err) =>
    services.logger.warn('enqueue failed; the sweeper will expand the batch', { batch: id, error: (err as Error).message }),
  );
}

/** Submissions with at most this many recipients share transactions with concurrent ones (group commit). */
const GROUP_COMMIT_RECIPIENTS = 50;

/** Accept group commits in flight at once (see persistItem); the api opens as many batch connections at start. */
const ACCEPT_GROUPS_IN_FLIGHT = 2;

/** Opens the batch connections the accept group commits use, so the first sends after start-up do not wait for them. */
export function warmAcceptGroups(services: Pick<Services, 'store'>): Promise<void> {
  return services.store.warm(ACCEPT_GROUPS_IN_FLIGHT);
}

/** How the group commit of these services has grouped so far (for tests and diagnostics). */
export function groupCommitStats(services: Pick<Services, 'store'>): { flushes: number; items: number } {
  return services.store.batchers.stats('accept');
}

/**
 * Writes prepared messages with one delivery per recipient and a `queued` (or `scheduled`) event per delivery
 * (plus a `suppressed` event per dropped recipient) in one transaction, after reserving the sending quota,
 * then enqueues the deliveries. Resolves false, writing nothing, when the quota would be passed.
 *
 * Small submissions made at the same time (single API sends, SMTP messages from many sessions) are written
 * together: one transaction, one commit, one enqueue for the group; each caller still gets its own answer
 * only once its rows are committed.
 */
export async function persistPrepared(services: Services, sender: Sender, ok: Prepared[], now: number, reply?: CommitStatement): Promise<boolean> {
  return (await persistItem({ services, sender, ok, now, reply })) === 'accepted';
}

/** persistPrepared's work; with `check` it may also answer Suppressed (see PersistItem.check). */
async function persistItem(item: PersistItem): Promise<Persisted> {
  const { services, sender, ok } = item;
  const recipients = ok.reduce((n, p) => n + p.recipients.length, 0);
  // Two groups in flight: sends that arrive while one group commits start the next at once instead of waiting a
  // whole flush (~10 ms at 50 connections), and a group held up by a lock (an account's quota row) or a slow
  // statement no longer holds up, or fails with its 503, every other account's sends queued behind it. The smtp
  // role starts the second only after GROUP_COMMIT_OVERLAP_MS: larger groups cost it less per message.
  const c = services.store.batchers.get(
    'accept',
    () =>
      new Coalescer<PersistItem, Persisted>(persistGroup, {
        name: 'accept',
        maxItems: 100,
        maxInFlight: ACCEPT_GROUPS_IN_FLIGHT,
        overlapAfterMs: services.store.groupOverlapMs,
        observe: services.metrics.groupSize('accept'),
      }),
  );
  // A big submission is accepted as one row that the worker expands (unless too big for a row, or a campaign's).
  const pending = recipients > GROUP_COMMIT_RECIPIENTS ? encodePending(ok.map((p) => ({ p, now: item.now }))) : null;
  const outcome = recipients > GROUP_COMMIT_RECIPIENTS ? (await persistGroup([item], pending ?? undefined))[0] : await c.submit(item);
  if (outcome === 'superseded') throw new IdempotencySuperseded();
  // The door a command came through rides on its context; the SMTP front calls in with plain services.
  if (outcome === 'accepted') services.metrics.accepted((services as Partial<CommandContext>).door ?? sender.source, ok.length);
  return outcome;
}

export const QUOTA_PROBLEM: Problem = { code: 17, message: 'Email sending limit reached: the daily or monthly quota of this account is used up' };

/**
 * Accepts API requests: validates each against the sender's state, composes its MIME and persists the
 * accepted ones together. Suppressed recipients among others are dropped; all suppressed → code 14.
 */
export async function acceptMessages(
  services: Services,
  sender: Sender,
  reqs: SendRequest[],
  given?: SendRefs[],
  /** The idempotent reply for these results, committed with the messages (see CommandContext.idempotentReply). */
  reply?: (accepted: Accepted[]) => CommitStatement | undefined,
): Promise<Accepted[]> {
  const now = Date.now();
  const resolved = given ? given.map((refs) => ({ refs, problems: [] as Problem[] })) : await Promise.all(reqs.map((r) => resolveRefs(services, sender, r)));
  // Suppression patterns apply to gateway sends, not to campaigns (as upstream).
  const campaign = !!given?.length && given.every((r) => r.campaignId !== undefined);
  const emails = reqs.flatMap((r) => recipientsOf(r).map((x) => x.email));
  // A submission small enough for the group commit has its recipients checked against the lists in the group's own
  // transaction (PersistItem.check): no lookup of its own before it. Others read the lists first, in one lookup for
  // every recipient of every message (gateway sends made at the same time share it).
  const inGroup = !campaign && emails.length <= GROUP_COMMIT_RECIPIENTS;
  const suppressed = campaign
    ? await suppressedAmong(services.store, sender.domain.id, emails, { patterns: false })
    : inGroup
      ? await patternSuppressedAmong(services.store, emails)
      : await suppressedAmongShared(services.store, sender.domain.id, emails);
  return acceptPrepared(services, sender, reqs, resolved, now, suppressed, inGroup, reply);
}

/** Prepares the requests without the `suppressed` recipients and persists them; again, without those listed, when the group's check found some. */
async function acceptPrepared(
  services: Services,
  sender: Sender,
  reqs: SendRequest[],
  resolved: { refs: SendRefs; problems: Problem[] }[],
  now: number,
  suppressed: Set<string>,
  check: boolean,
  reply?: (accepted: Accepted[]) => CommitStatement | undefined,
): Promise<Accepted[]> {
  const trackIds = () => services.store.trackIds.next();
  const prepared = await Promise.all(
    reqs.map((r, i) => (resolved[i].problems.length ? resolved[i].problems : prepare(services, sender, r, resolved[i].refs, now, suppressed, trackIds))),
  );
  const ok = prepared.filter((p): p is Prepared => !Array.isArray(p));
  const accepted: Accepted[] = prepared.map((p) => (Array.isArray(p) ? { ok: false, problems: p } : { ok: true, messageId: p.messageId }));
  if (!ok.length) return accepted;
  const toCheck = check ? [...new Set(ok.flatMap((p) => p.recipients.map((r) => r.email.toLowerCase())))] : undefined;
  const outcome = await persistItem({ services, sender, ok, now, reply: reply?.(accepted), check: toCheck });
  if (typeof outcome === 'object') return acceptPrepared(services, sender, reqs, resolved, now, new Set([...suppressed, ...outcome.suppressed]), false, reply);
  if (outcome === 'quota') return prepared.map((p) => ({ ok: false as const, problems: Array.isArray(p) ? p : [QUOTA_PROBLEM] }));
  return accepted;
}
