import { recordEvents } from '../events/record';
import type { Db } from '../db';

/** Not yet handed to a worker: a held delivery (queue control) can be cancelled like a waiting one. */
const CANCELLABLE = ['queued', 'scheduled', 'deferred', 'held'];

const iso = (ms: number | string | null | undefined) => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString());

/** A message's overall status from its deliveries: the least advanced one decides while any is pending. */
export function messageStatus(statuses: string[]): string {
  const order = ['sending', 'queued', 'deferred', 'scheduled', 'held'];
  for (const s of order) if (statuses.includes(s)) return s;
  if (statuses.every((s) => s === 'delivered')) return 'delivered';
  if (statuses.every((s) => s === 'cancelled')) return 'cancelled';
  if (statuses.some((s) => s === 'delivered')) return 'partially_delivered';
  return statuses.includes('bounced') ? 'bounced' : (statuses[0] ?? 'unknown');
}

export async function presentMessage(db: Db, message: Record<string, any>, withEvents: boolean) {
  const deliveries = await db('deliveries').where({ message_id: message.id }).orderBy('id');
  // Grouped by delivery in one pass: filtering every event once per recipient costs recipients × events.
  const eventsOf = new Map<number, Record<string, unknown>[]>();
  if (withEvents) {
    for (const e of await db('events').where({ message_id: message.id }).orderBy('id')) {
      if (e.delivery_id === null) continue; // of no one recipient: shown by none, as before
      const list = eventsOf.get(Number(e.delivery_id));
      const shown = { Event: e.type, LoggedAt: Math.floor(Number(e.created_at) / 1000), Data: JSON.parse(e.data) };
      if (list) list.push(shown);
      else eventsOf.set(Number(e.delivery_id), [shown]);
    }
  }
  return {
    MessageID: message.id,
    Status: messageStatus(deliveries.map((d: { status: string }) => d.status)),
    From: message.from_email,
    Subject: message.subject,
    Tags: JSON.parse(message.tags),
    Metadata: message.metadata ? JSON.parse(message.metadata) : {},
    MessageIDHeader: message.message_id_header,
    Size: Number(message.mime_size),
    CreatedAt: iso(message.created_at),
    SendAt: iso(message.send_at),
    Recipients: deliveries.map((d: Record<string, any>) => ({
      Email: d.recipient,
      Type: d.kind,
      Status: d.status,
      Attempts: Number(d.attempts),
      LastReply: d.last_reply,
      BounceClass: d.bounce_class,
      NextAttemptAt: ['queued', 'deferred', 'scheduled'].includes(d.status) ? iso(d.next_attempt_at) : null,
      FinishedAt: iso(d.finished_at),
      ...(withEvents ? { Events: eventsOf.get(Number(d.id)) ?? [] } : {}),
    })),
  };
}

/** Marks the messages' unsent deliveries cancelled (held ones too; not ones being sent right now); returns how many. */
export async function cancelDeliveries(db: Db, where: { message_id?: string | string[]; domain_id?: number }): Promise<number> {
  const now = Date.now();
  return db.transaction(async (trx) => {
    const { message_id: messageId, ...rest } = where;
    const select = trx('deliveries')
      .where(rest)
      .modify((q) => (Array.isArray(messageId) ? q.whereIn('message_id', messageId) : messageId !== undefined ? q.where('message_id', messageId) : q))
      .whereIn('status', CANCELLABLE)
      .where((q) => q.whereNull('lease_until').orWhere('lease_until', '<', now))
      .select('id', 'message_id', 'domain_id', 'user_id', 'recipient');
    // Lock the rows (MySQL) so a worker cannot lease one between this read and the update below.
    const rows = trx.client.config.client === 'mysql2' ? await select.forUpdate() : await select;
    if (!rows.length) return 0;
    const ids = rows.map((r: { id: number }) => r.id);
    for (let i = 0; i < ids.length; i += 500) {
      await trx('deliveries')
        .whereIn('id', ids.slice(i, i + 500))
        .whereIn('status', CANCELLABLE)
        .update({ status: 'cancelled', finished_at: now, updated_at: now, lease_until: null });
    }
    await recordEvents(
      trx,
      rows.map((r: Record<string, any>) => ({
        message_id: r.message_id,
        delivery_id: Number(r.id),
        domain_id: Number(r.domain_id),
        user_id: Number(r.user_id),
        type: 'cancelled',
        created_at: now,
        data: { recipient: r.recipient },
      })),
    );
    return rows.length;
  });
}
