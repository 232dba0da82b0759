import type { Knex } from 'knex';
import type { Config } from '../config';
import type { DomainRow } from '../domains/domains';
import { decodeContent } from '../mail/stored-content';
import { fixedOriginOf, renderTags } from '../personalize/render';
import { recipientContext } from './apply';

/**
 * The target of a templated tracked link (an href with personalisation tags, see prepared-html.ts) for one
 * delivery: its tags rendered as that recipient's copy rendered them at delivery. Null when its message or
 * domain is gone, or when the rendered URL leaves the origin written before its first tag.
 */
export async function renderTemplatedLink(
  db: Knex,
  config: Config,
  d: { message_id: string; domain_id: number; recipient: string },
  trackId: string,
  url: string,
): Promise<string | null> {
  const m = await db('messages').where({ id: d.message_id }).first('content');
  const domain: DomainRow | undefined = await db('sender_domains').where({ id: d.domain_id }).first();
  if (!m?.content || !domain) return null;
  const content = decodeContent(m.content);
  const { ctx } = recipientContext({ config, domain, fields: content.fields ?? { EmailAddress: d.recipient } }, trackId);
  const rendered = renderTags(url, ctx, 'text').trim();
  // The click goes only to the origin the sender wrote before any tag: never where a subscriber's value points.
  const origin = fixedOriginOf(url);
  try {
    return origin !== null && new URL(rendered).origin === origin ? rendered : null;
  } catch {
    return null;
  }
}
