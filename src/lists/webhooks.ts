/**
 * Inbound list webhooks (upstream `user.webhook.*`): rows, their presentation and the per-day request counts.
 * The HashedID is a random secret shown on every read, so it is kept encrypted, with its SHA-256 for lookups.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { Config } from '../config';
import type { Db } from '../db';
import { open, seal, sha256hex } from '../auth/secrets';

export const EVENTS = ['Subscription', 'Unsubscription'] as const;

export interface ListWebhookRow {
  id: number;
  user_id: number;
  list_id: number;
  name: string;
  event: string;
  unsubscribe_all: number | boolean;
  secret_hash: string;
  secret_enc: string;
}

/** Upstream's HashedID look: eight groups of four hex digits (128 random bits). */
export function newHashedId(config: Config): { hashedId: string; secret_hash: string; secret_enc: string } {
  const hashedId = crypto.randomBytes(16).toString('hex').match(/.{4}/g)!.join('-');
  return { hashedId, secret_hash: sha256hex(hashedId), secret_enc: seal(hashedId, config) };
}

export function eventName(v: unknown): string | undefined {
  return EVENTS.find(
    (e) =>
      e.toLowerCase() ===
      String(v ?? '')
        .trim()
        .toLowerCase(),
  );
}

export async function findOwnedWebhook(db: Db, userId: number, id: unknown): Promise<ListWebhookRow | undefined> {
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n <= 0) return undefined;
  return db('list_webhooks').where({ id: n, user_id: userId }).first();
}

export function presentWebhook(row: ListWebhookRow, config: Config, listName?: string): Record<string, unknown> {
  return {
    WebhookID: String(row.id),
    RelUserID: String(row.user_id),
    RelListID: String(row.list_id),
    ...(listName === undefined ? {} : { RelListName: listName }),
    Name: row.name,
    Event: row.event,
    HashedID: open(row.secret_enc, config),
    Options: { UnsubscribeAll: !!Number(row.unsubscribe_all) },
  };
}

/** Counts one received request and its outcome in today's (UTC) row. */
export async function countRequest(db: Knex, webhookId: number, ok: boolean, at = Date.now()): Promise<void> {
  const day = new Date(at).toISOString().slice(0, 10);
  await db('list_webhook_stats').insert({ webhook_id: webhookId, day, received: 0, failed: 0, successful: 0 }).onConflict(['webhook_id', 'day']).ignore();
  await db('list_webhook_stats')
    .where({ webhook_id: webhookId, day })
    .update({ received: db.raw('received + 1'), [ok ? 'successful' : 'failed']: db.raw(`${ok ? 'successful' : 'failed'} + 1`) });
}

/** Rows of the last `days` UTC days (newest first), days without requests omitted. */
export async function statsOf(
  db: Knex,
  webhookId: number,
  days: number,
  at = Date.now(),
): Promise<{ day: string; received: number; failed: number; successful: number }[]> {
  const since = new Date(at - (days - 1) * 86400_000).toISOString().slice(0, 10);
  return db('list_webhook_stats')
    .where({ webhook_id: webhookId })
    .where('day', '>=', since)
    .orderBy('day', 'desc')
    .select('day', 'received', 'failed', 'successful');
}
