import type { Knex } from 'knex';
import type { EventInput } from '../events/record';

/** Queues a webhook delivery for each event a domain's webhooks subscribe to (inside the event's transaction). */
export async function queueWebhookEvents(_trx: Knex | Knex.Transaction, _events: EventInput[]): Promise<void> {
  // Filled in by the webhooks work (issue #5).
}
