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
