import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { EventInput } from '../events/event-input';
import { WEBHOOK_EVENTS } from '../events/vocabulary';
import { insertRows, placeholders, quoteId, Read, readAlone, runInTurn, sql, Stmt } from '../db';
import { EventFacts, isWebhookFormat, renderPayload, WebhookFormat } from './formats';

const SUBSCRIBABLE = new Set(WEBHOOK_EVENTS);

/** Can a webhook subscribe to events of this type (else planWebhookEvents asks nothing for them)? */
export const subscribable = (type: string): boolean => SUBSCRIBABLE.has(type);

/** An enabled subscription, as planWebhookEvents matches events against it. */
export interface Hook {
  id: number;
  domain_id: number | null;
  user_id: number;
  event: string;
  format: string;
}

interface MessageFacts {
  tags: string[];
  metadata: Record<string, unknown>;
  domain: string;
}

function jsonOr<T>(raw: unknown, fallback: T, ok: (v: unknown) => boolean): T {
  try {
    const v = JSON.parse(String(raw ?? ''));
    return ok(v) ? (v as T) : fallback;
  } catch {
    return fallback;
  }
}

/** A subscription covers an event of its domain, or (domain_id null) of any domain of its account. */
function covers(w: Hook, e: EventInput): boolean {
  const scoped = w.domain_id === null ? Number(w.user_id) === Number(e.user_id) : Number(w.domain_id) === Number(e.domain_id);
  return scoped && w.event.split(',').includes(e.type);
}

/**
 * Queues a webhook delivery for each event a subscription covers (inside the event's transaction, so an event
 * and its webhook calls are committed together). Runs on the send path: events no webhook can subscribe to
 * (queued, deferred, …) return without a query; otherwise one query finds the enabled subscriptions of the
 * events' domains and accounts, and one reads the matched messages' tags, metadata and domain.
 */
export async function queueWebhookEvents(trx: Knex | Knex.Transaction, events: EventInput[]): Promise<void> {
  await runInTurn(await planWebhookEvents(trx, events));
}

/**
 * The enabled subscriptions that can cover events of these domains and accounts: what planWebhookEvents reads, for a
 * caller that sends it beside its own statements (the delivery worker's settle, saving a round trip per group).
 */
export function subscriptionsOf(trx: Knex | Knex.Transaction, domainIds: number[], userIds: number[]): Stmt {
  // One SQL text, not the builder: this runs in every settle group, and knex compiling its nested where showed in
  // the delivery worker's profile. An empty list matches nothing, as the builder's `whereIn` made it.
  const domains = [...new Set(domainIds)];
  const users = [...new Set(userIds)];
  const inList = (n: number, col: string) => (n ? `${quoteId(col)} in ${placeholders(n)}` : '1 = 0');
  return sql(
    trx,
    'select `id`, `domain_id`, `user_id`, `event`, `format` from `webhooks` where `status` = ? ' +
      `and (${inList(domains.length, 'domain_id')} or (\`domain_id\` is null and ${inList(users.length, 'user_id')}))`,
    ['Enabled', ...domains, ...users],
  );
}

/**
 * The outbox rows queueWebhookEvents writes, as statements for the caller to run; the reads are made here.
 * Each row's payload is rendered in its subscription's format (the same body on every retry).
 */
export async function planWebhookEvents(
  trx: Knex | Knex.Transaction,
  events: EventInput[],
  read: Read = readAlone,
  /** The subscriptions, when the caller read them already (subscriptionsOf for every event's domain and account, or more). */
  subscribed?: Hook[],
): Promise<Stmt[]> {
  const wanted = events.filter((e) => SUBSCRIBABLE.has(e.type));
  if (!wanted.length) return [];
  const hooks =
    subscribed ??
    ((await read(
      subscriptionsOf(
        trx,
        wanted.map((e) => e.domain_id),
        wanted.map((e) => e.user_id),
      ),
    )) as Hook[]);
  if (!hooks.length) return [];
  const matched = wanted.map((e) => ({ e, targets: hooks.filter((w) => covers(w, e)) })).filter((m) => m.targets.length);
  if (!matched.length) return [];

  const facts = new Map<string, MessageFacts>();
  const messageIds = [...new Set(matched.map((m) => m.e.message_id))];
  for (let i = 0; i < messageIds.length; i += 500) {
    const rows = (await read(
      trx('messages')
        .join('sender_domains', 'sender_domains.id', 'messages.domain_id')
        .whereIn('messages.id', messageIds.slice(i, i + 500))
        .select('messages.id', 'messages.tags', 'messages.metadata', 'sender_domains.domain'),
    )) as { id: string; tags: unknown; metadata: unknown; domain: string }[];
    for (const r of rows) {
      facts.set(r.id, {
        tags: jsonOr<unknown[]>(r.tags, [], Array.isArray).map(String),
        metadata: jsonOr<Record<string, unknown>>(r.metadata, {}, (v) => !!v && typeof v === 'object' && !Array.isArray(v)),
        domain: r.domain,
      });
    }
  }

  const now = Date.now();
  const rows: Record<string, unknown>[] = [];
  for (const { e, targets } of matched) {
    const known = facts.get(e.message_id) ?? { tags: [], metadata: {}, domain: '' };
    const f: EventFacts = { eventId: `evt_${crypto.randomUUID().replace(/-/g, '')}`, event: e, ...known };
    const bodies = new Map<WebhookFormat, string>();
    for (const w of targets) {
      const format: WebhookFormat = isWebhookFormat(w.format) ? w.format : 'standard';
      if (!bodies.has(format)) bodies.set(format, renderPayload(format, f));
      rows.push({
        webhook_id: w.id,
        event_id: f.eventId,
        event_type: e.type,
        payload: bodies.get(format),
        status: 'pending',
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      });
    }
  }
  const out: Stmt[] = [];
  for (let i = 0; i < rows.length; i += 200) out.push(insertRows(trx, 'webhook_deliveries', rows.slice(i, i + 200)));
  return out;
}
