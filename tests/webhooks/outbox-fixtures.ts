import { Harness, senderSetup } from '../helpers/harness';

/** A `delivery` webhook of a new sender's domain, made through emailgateway.addwebhook, calling `url`. */
export async function deliveryWebhook(h: Harness, url: string): Promise<number> {
  const s = await senderSetup(h);
  const r = await h.call({ Command: 'emailgateway.addwebhook', SessionID: s.sessionId, DomainID: s.domainId, Event: 'delivery', WebhookURL: url });
  if (!r.Success) throw new Error(JSON.stringify(r));
  return r.NewWebhookID;
}

/** Outbox rows of a webhook as the event recorder writes them, event ids `evt_<label>_<webhook>_<n>`; `fields` overrides. */
export function outboxRows(webhookId: number, n: number, label: string, fields: Record<string, unknown> = {}): Record<string, unknown>[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    webhook_id: webhookId,
    event_id: `evt_${label}_${webhookId}_${i}`,
    event_type: 'delivered',
    payload: JSON.stringify({ label, i }),
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    created_at: now,
    updated_at: now,
    ...fields,
  }));
}
