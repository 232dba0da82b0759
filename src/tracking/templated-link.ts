import type { Knex } from 'knex';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config';
import type { DomainRow } from '../domains/domains';
import { decodeContent } from '../mail/stored-content';
import { fixedOriginOf, renderTags } from '../personalize/render';
import { recipientContext } from './apply';

/** Subscriber:<Field> values of one message as its copies were rendered; null when the message is gone. */
export type FieldsOf = (messageId: string) => Promise<{ fields: Record<string, string> | null } | null>;

/**
 * FieldsOf over a bounded cache: a click would otherwise read the message's whole stored content (its bodies and
 * attachments, up to the size limit) to find a few values, and anyone holding one click URL may replay it at once
 * from many connections. Concurrent clicks on one message share one read (lru-cache's fetch).
 */
export function cachedFieldsOf(db: Knex, opts: { max: number; ttlMs: number }): FieldsOf {
  const cache = new LRUCache<string, { fields: Record<string, string> | null; gone: boolean }>({
    max: opts.max,
    ttl: opts.ttlMs,
    fetchMethod: async (messageId) => {
      const m = await db('messages').where({ id: messageId }).first('content');
      return m?.content ? { fields: decodeContent(m.content).fields ?? null, gone: false } : { fields: null, gone: true };
    },
  });
  return async (messageId) => {
    const entry = await cache.fetch(messageId);
    return !entry || entry.gone ? null : { fields: entry.fields };
  };
}

/**
 * The target of a templated tracked link (an href with personalisation tags, see prepared-html.ts) for one
 * delivery: its tags rendered as that recipient's copy rendered them at delivery. Null when its message or
 * domain is gone, or when the rendered URL leaves the origin written before its first tag.
 */
export async function renderTemplatedLink(
  db: Knex,
  config: Config,
  fieldsOf: FieldsOf,
  d: { message_id: string; domain_id: number; recipient: string },
  trackId: string,
  url: string,
): Promise<string | null> {
  const m = await fieldsOf(d.message_id);
  const domain: DomainRow | undefined = await db('sender_domains').where({ id: d.domain_id }).first();
  if (!m || !domain) return null;
  const { ctx } = recipientContext({ config, domain, fields: m.fields ?? { EmailAddress: d.recipient } }, trackId);
  const rendered = renderTags(url, ctx, 'text').trim();
  // The click goes only to the origin the sender wrote before any tag: never where a subscriber's value points.
  const origin = fixedOriginOf(url);
  try {
    return origin !== null && new URL(rendered).origin === origin ? rendered : null;
  } catch {
    return null;
  }
}
