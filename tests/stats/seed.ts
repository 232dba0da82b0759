import crypto from 'node:crypto';
import { EventInput, recordEvents } from '../../src/events/record';
import type { Harness } from '../helpers/harness';

export interface Owner {
  userId: number;
  domainId: number;
}

export interface DeliverySpec {
  to: string;
  tags?: string[];
  /** ISO time the message was accepted (its queued event). */
  at: string;
  outcome?: { type: 'delivered' | 'bounced' | 'failed'; seconds: number; omitSeconds?: boolean };
  /** Opens/clicks: ISO time and whether it is the delivery's first. */
  opens?: { at: string; unique: boolean }[];
  clicks?: { at: string; unique: boolean }[];
}

const ms = (iso: string) => Date.parse(iso);

/**
 * Writes a message and delivery row per spec, then records the events the pipeline would have recorded for it
 * (queued, the outcome with its seconds, opens and clicks) through the one event writer, recordEvents.
 */
export async function seed(h: Harness, owner: Owner, specs: DeliverySpec[]): Promise<number[]> {
  const db = h.services.db;
  const ids: number[] = [];
  for (const spec of specs) {
    const messageId = crypto.randomUUID();
    const accepted = ms(spec.at);
    await db.transaction(async (trx) => {
      await trx('messages').insert({
        id: messageId,
        user_id: owner.userId,
        domain_id: owner.domainId,
        source: 'api',
        from_email: 'sender@example.com',
        subject: 'seeded',
        tags: JSON.stringify(spec.tags ?? []),
        message_id_header: `<${messageId}@seed.test>`,
        mime: Buffer.from('Subject: seeded\r\n\r\nhello\r\n'),
        mime_size: 24,
        created_at: accepted,
      });
      const [id] = await trx('deliveries').insert({
        message_id: messageId,
        user_id: owner.userId,
        domain_id: owner.domainId,
        recipient: spec.to,
        recipient_domain: spec.to.split('@')[1],
        kind: 'to',
        status: spec.outcome?.type ?? 'queued',
        attempts: spec.outcome ? 1 : 0,
        next_attempt_at: accepted,
        created_at: accepted,
        updated_at: accepted,
      });
      ids.push(Number(id));
      const base = { message_id: messageId, delivery_id: Number(id), domain_id: owner.domainId, user_id: owner.userId };
      const events: EventInput[] = [{ ...base, type: 'queued', created_at: accepted, data: { recipient: spec.to } }];
      if (spec.outcome) {
        const data: Record<string, unknown> = { recipient: spec.to, attempts: 1, smtp_reply: '250 ok' };
        if (!spec.outcome.omitSeconds) data.seconds = spec.outcome.seconds;
        events.push({ ...base, type: spec.outcome.type, created_at: accepted + spec.outcome.seconds * 1000, data });
      }
      for (const o of spec.opens ?? [])
        events.push({ ...base, type: 'opened', created_at: ms(o.at), data: { recipient: spec.to, unique: o.unique, machine: false } });
      for (const c of spec.clicks ?? [])
        events.push({ ...base, type: 'clicked', created_at: ms(c.at), data: { recipient: spec.to, unique: c.unique, url: 'https://example.com/' } });
      // One event per call, as the worker and tracking record them, except the first batch.
      await recordEvents(trx, events.slice(0, 1));
      for (const e of events.slice(1)) await recordEvents(trx, [e]);
    });
  }
  return ids;
}

/** A `suppressed` event (no delivery row), as the accept path records a dropped recipient. */
export async function seedSuppressed(h: Harness, owner: Owner, to: string, at: string): Promise<void> {
  const db = h.services.db;
  const messageId = crypto.randomUUID();
  await db.transaction(async (trx) => {
    await trx('messages').insert({
      id: messageId,
      user_id: owner.userId,
      domain_id: owner.domainId,
      source: 'api',
      from_email: 'sender@example.com',
      subject: 'seeded',
      tags: '["promo"]',
      message_id_header: `<${messageId}@seed.test>`,
      mime: Buffer.from('x'),
      mime_size: 1,
      created_at: ms(at),
    });
    await recordEvents(trx, [
      {
        message_id: messageId,
        delivery_id: null,
        domain_id: owner.domainId,
        user_id: owner.userId,
        type: 'suppressed',
        created_at: ms(at),
        data: { recipient: to },
      },
    ]);
  });
}
