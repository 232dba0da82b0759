import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { DomainEventType } from '../events/vocabulary';
import { isWebhookFormat, renderDomainPayload, WebhookFormat } from '../webhooks/formats';

/** Something that happened to a sender domain (not to a message): see DOMAIN_WEBHOOK_EVENTS. */
export interface DomainEvent {
  type: DomainEventType;
  data: Record<string, unknown>;
}

/**
 * Writes a domain's events and queues a webhook call for each subscription that covers one (the domain's own
 * webhooks and its account's account-wide ones), inside the caller's transaction, so an event and its calls are
 * committed together. The webhook worker sends them like any other outbox row.
 */
export async function recordDomainEvents(
  trx: Knex | Knex.Transaction,
  domain: { id: number; user_id: number; domain: string },
  events: DomainEvent[],
  now: number,
): Promise<void> {
  if (!events.length) return;
  const domainId = Number(domain.id);
  const userId = Number(domain.user_id);
  await trx('domain_events').insert(events.map((e) => ({ domain_id: domainId, user_id: userId, type: e.type, data: JSON.stringify(e.data), created_at: now })));
  await queueDomainWebhooks(trx, domain, events, now);
}

/**
 * An event whose figure is counted after the change it records (a suspension's held deliveries, counted as they are
 * held a page at a time): its row goes in the change's transaction, its final data and webhook calls in a later one
 * (completeDomainEvent). Until then its figure is null, which tells a call that finishes the work (see
 * unfinishedDomainEvent). Answers the row's id.
 */
export async function beginDomainEvent(trx: Knex | Knex.Transaction, domain: { id: number; user_id: number }, e: DomainEvent, now: number): Promise<number> {
  const [id] = await trx('domain_events').insert({
    domain_id: Number(domain.id),
    user_id: Number(domain.user_id),
    type: e.type,
    data: JSON.stringify(e.data),
    created_at: now,
  });
  return Number(id);
}

/**
 * The begun event's final data, and its webhook calls queued: once. The UPDATE names the begun data (`begun`), so of
 * two calls finishing one event (a retry while the first still runs, the guard and an admin at once) only the first
 * completes it and queues its calls; the other answers false. Two completions queued the calls twice, and a receiver
 * could not tell the copies apart.
 */
export async function completeDomainEvent(
  trx: Knex | Knex.Transaction,
  domain: { id: number; user_id: number; domain: string },
  id: number,
  e: DomainEvent,
  createdAt: number,
  begun: Record<string, unknown>,
): Promise<boolean> {
  const done = await trx('domain_events')
    .where({ id, data: JSON.stringify(begun) })
    .update({ data: JSON.stringify(e.data) });
  if (!done) return false;
  await queueDomainWebhooks(trx, domain, [e], createdAt);
  return true;
}

/** The domain's latest event of `type` when it was begun and never completed (its `figure` still null). */
export async function unfinishedDomainEvent(
  db: Knex | Knex.Transaction,
  domainId: number,
  type: DomainEvent['type'],
  figure: string,
): Promise<{ id: number; data: Record<string, unknown>; created_at: number } | undefined> {
  const row = await db('domain_events').where({ domain_id: domainId, type }).orderBy('id', 'desc').first('id', 'data', 'created_at');
  if (!row) return undefined;
  const data = JSON.parse(String(row.data)) as Record<string, unknown>;
  return data[figure] === null ? { id: Number(row.id), data, created_at: Number(row.created_at) } : undefined;
}

/** A webhook call for each subscription that covers one of the events (the domain's own and its account's account-wide ones). */
async function queueDomainWebhooks(trx: Knex | Knex.Transaction, domain: { id: number; user_id: number; domain: string }, events: DomainEvent[], now: number) {
  const domainId = Number(domain.id);
  const userId = Number(domain.user_id);
  const hooks: { id: number; event: string; format: string }[] = await trx('webhooks')
    .where('status', 'Enabled')
    .where((q) => q.where('domain_id', domainId).orWhere((q2) => q2.whereNull('domain_id').where('user_id', userId)))
    .select('id', 'event', 'format');
  const rows: Record<string, unknown>[] = [];
  // The outbox runs on the wall clock (the webhook worker's), whatever time the event is stamped with.
  const queuedAt = Date.now();
  for (const e of events) {
    const eventId = `evt_${crypto.randomUUID().replace(/-/g, '')}`;
    for (const w of hooks) {
      if (!String(w.event).split(',').includes(e.type)) continue;
      const format: WebhookFormat = isWebhookFormat(w.format) ? w.format : 'standard';
      const payload = renderDomainPayload(format, { eventId, type: e.type, createdAt: now, domain: domain.domain, domainId, data: e.data });
      rows.push({
        webhook_id: w.id,
        event_id: eventId,
        event_type: e.type,
        payload,
        status: 'pending',
        attempts: 0,
        next_attempt_at: queuedAt,
        created_at: queuedAt,
        updated_at: queuedAt,
      });
    }
  }
  if (rows.length) await trx('webhook_deliveries').insert(rows);
}

/** The domain's latest events, newest first. */
export async function recentDomainEvents(
  db: Knex,
  domainId: number,
  limit = 20,
): Promise<{ type: string; data: Record<string, unknown>; created_at: number }[]> {
  const rows: { type: string; data: string; created_at: number }[] = await db('domain_events')
    .where({ domain_id: domainId })
    .orderBy('id', 'desc')
    .limit(limit)
    .select('type', 'data', 'created_at');
  return rows.map((r) => ({ type: r.type, data: JSON.parse(r.data) as Record<string, unknown>, created_at: Number(r.created_at) }));
}
