import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { EventInput } from '../events/record';
import { WEBHOOK_EVENTS } from '../events/vocabulary';
import { insertRows, Read, runInTurn, Stmt } from '../db';

const SUBSCRIBABLE = new Set(WEBHOOK_EVENTS);

/** The JSON body of one webhook call: the same for every endpoint subscribed to the event, and on every retry. */
export interface WebhookPayload {
  id: string;
  type: string;
  created_at: string;
  data: Record<string, unknown>;
}

function tagsOf(raw: unknown): string[] {
  try {
    const v = JSON.parse(String(raw ?? '[]'));
    return Array.isArray(v) ? v.map(String) : [];
  } catch {
    return [];
  }
}

/**
 * Queues a webhook delivery for each event a domain's webhooks subscribe to (inside the event's transaction,
 * so an event and its webhook calls are committed together). Runs on the send path: events no webhook can
 * subscribe to (queued, deferred, …) return without a query; otherwise one query finds the subscribed
 * webhooks and one reads the messages' tags.
 */
export async function queueWebhookEvents(trx: Knex | Knex.Transaction, events: EventInput[]): Promise<void> {
  await runInTurn(await planWebhookEvents(trx, events));
}

/** The outbox rows queueWebhookEvents writes, as statements for the caller to run; the reads are made here. */
export async function planWebhookEvents(trx: Knex | Knex.Transaction, events: EventInput[], knownTags?: Map<string, string[]>, read: Read = async (s) => await s): Promise<Stmt[]> {
  const wanted = events.filter((e) => SUBSCRIBABLE.has(e.type));
  if (!wanted.length) return [];
  const hooks = (await read(
    trx('webhooks')
    .join('sender_domains', 'sender_domains.id', 'webhooks.domain_id')
    .whereIn('webhooks.domain_id', [...new Set(wanted.map((e) => e.domain_id))])
    .whereIn('webhooks.event', [...new Set(wanted.map((e) => e.type))])
    .where('webhooks.status', 'Enabled')
      .select('webhooks.id', 'webhooks.domain_id', 'webhooks.event', 'sender_domains.domain'),
  )) as { id: number; domain_id: number; event: string; domain: string }[];
  if (!hooks.length) return [];

  const byKey = new Map<string, typeof hooks>();
  for (const w of hooks) {
    const key = `${w.domain_id}:${w.event}`;
    byKey.set(key, [...(byKey.get(key) ?? []), w]);
  }
  const matched = wanted.filter((e) => byKey.has(`${e.domain_id}:${e.type}`));
  if (!matched.length) return [];
  const tags = new Map<string, string[]>();
  for (const e of matched) if (knownTags?.has(e.message_id)) tags.set(e.message_id, knownTags.get(e.message_id)!);
  const messageIds = [...new Set(matched.map((e) => e.message_id))].filter((id) => !tags.has(id));
  for (let i = 0; i < messageIds.length; i += 500) {
    const rows = (await read(trx('messages').whereIn('id', messageIds.slice(i, i + 500)).select('id', 'tags'))) as { id: string; tags: unknown }[];
    for (const r of rows) tags.set(r.id, tagsOf(r.tags));
  }

  const now = Date.now();
  const rows: Record<string, unknown>[] = [];
  for (const e of matched) {
    const targets = byKey.get(`${e.domain_id}:${e.type}`)!;
    const payload: WebhookPayload = {
      id: `evt_${crypto.randomUUID().replace(/-/g, '')}`,
      type: e.type,
      created_at: new Date(e.created_at).toISOString(),
      data: {
        message_id: e.message_id,
        recipient: e.data.recipient ?? null,
        domain: targets[0].domain,
        tags: tags.get(e.message_id) ?? [],
        metadata: {},
        ...Object.fromEntries(Object.entries(e.data).filter(([k]) => k !== 'recipient')),
      },
    };
    const body = JSON.stringify(payload);
    for (const w of targets) {
      rows.push({ webhook_id: w.id, event_id: payload.id, event_type: e.type, payload: body, status: 'pending', attempts: 0, next_attempt_at: now, created_at: now, updated_at: now });
    }
  }
  const out: Stmt[] = [];
  for (let i = 0; i < rows.length; i += 200) out.push(insertRows(trx, 'webhook_deliveries', rows.slice(i, i + 200)));
  return out;
}
