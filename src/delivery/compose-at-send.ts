import { LRUCache } from 'lru-cache';
import type { Knex } from 'knex';
import type { Config } from '../config';
import type { DomainRow } from '../domains/domains';
import { MessageMime, MimeShapes } from '../mail/message-mime';
import { decodeContent, StoredContent } from '../mail/stored-content';
import { renderTags, usesTag } from '../personalize/render';
import { recipientContext, UNSUB_TAGS, unsubscribeFooter, unsubscribeText } from '../tracking/apply';
import { PreparedHtml, prepareHtml, renderPrepared } from '../tracking/prepared-html';
import { pixelHtml } from '../tracking/rewrite';
import { trackingSecret } from '../tracking/tokens';
import { isOutage } from '../outage';

/** A leased delivery of an API message: its recipient, its track id and the message's stored content. */
export interface ComposeTarget {
  message_id: string;
  recipient: string;
  track_id: string | null;
  content: Buffer | string;
}

/**
 * What a message's recipients share: every recipient's bytes when the message has no per-recipient copies (its
 * decoded content is not kept: a cached message outlives young-generation collections, so what it holds is
 * promoted and later marked), else the decoded content with its prepared HTML and MIME.
 */
type PreparedMessage =
  | { bytes: Buffer }
  | {
      bytes?: undefined;
      content: StoredContent;
      /** The message's MIME with its per-recipient parts left open (src/mail/message-mime.ts). */
      mime: MessageMime;
      html: PreparedHtml | null;
    };

/**
 * Composes at delivery what accept used to compose (src/mail/prepare.ts stores the request, not the MIME): the bytes
 * composeMime gives with the same Message-ID and Date, and per recipient what buildVariant gives (tags, tracked
 * links, pixel, unsubscribe link and headers). Each message is prepared once per worker (HTML parsed once, its
 * MIME's shared parts encoded once, its tracked links written before its first send) and kept in a bounded cache
 * owned by the worker, not by this module.
 */
export class SendComposer {
  private readonly prepared: LRUCache<string, Promise<PreparedMessage>>;
  /**
   * Parsed bodies by (tracking, base, HTML): a batch's messages usually share their HTML, and parse5 was 10 % of a
   * worker's busy time in bench:send once the MIME was built per shape. prepareHtml is a pure function of these three
   * and its result is only read.
   */
  private readonly htmls = new LRUCache<string, PreparedHtml>({ maxSize: 8 << 20, sizeCalculation: (_v, key) => key.length * 3 + 256 });
  /** Layouts shared by messages that differ only in To, Message-ID and Date (a batch's, from one sender). */
  private readonly shapes = new MimeShapes();
  /** Derived from ENCRYPTION_KEY once, not per recipient. */
  private readonly secret: Buffer;

  constructor(
    private readonly db: Knex,
    private readonly config: Config,
    opts: { maxBytes?: number } = {},
  ) {
    // Bounded by size: a message counts about what it holds (its content decoded, its MIME or prepared HTML), so a few
    // big ones cannot hold the heap. Only messages being delivered need to stay: 16 MB is thousands of usual ones.
    this.prepared = new LRUCache({ maxSize: opts.maxBytes ?? 16 << 20 });
    this.secret = trackingSecret(config);
  }

  /** The exact bytes to send to this delivery's recipient (before DKIM). */
  async bytesFor(d: ComposeTarget, domain: DomainRow): Promise<Buffer> {
    const p = await this.prepare(d, domain);
    if (p.bytes) return p.bytes;
    const c = p.content;
    const plan = c.plan!;
    const { ctx, urls, base } = recipientContext(
      { config: this.config, domain, fields: c.fields ?? { EmailAddress: d.recipient }, secret: this.secret },
      d.track_id,
    );
    // One budget for every part of this copy: a copy past the message size fails instead of filling a worker's heap.
    ctx.budget = { left: this.config.smtpMaxMessageBytes, of: this.config.smtpMaxMessageBytes };
    const headers: Record<string, string> = {};
    if (urls && plan.unsubscribe) {
      headers['List-Unsubscribe'] = `<${urls.unsubscribe}>`;
      headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
    }
    let html: string | undefined;
    if (c.html !== undefined) {
      const footer = urls && plan.unsubscribe && !UNSUB_TAGS.some((t) => usesTag(c.html, t)) ? unsubscribeFooter(urls.unsubscribe) : '';
      const pixel = urls && plan.opens ? pixelHtml(urls.open) : '';
      html = renderPrepared(p.html!, ctx, { click: urls && plan.links ? urls.click : null, insert: urls ? footer + pixel : '', ownBase: base });
    }
    let text = c.text === undefined ? undefined : renderTags(c.text, ctx, 'text');
    if (text !== undefined && urls && plan.unsubscribe && !UNSUB_TAGS.some((t) => usesTag(c.text, t))) text = unsubscribeText(text, urls.unsubscribe);
    return p.mime.compose({ subject: renderTags(c.subject, ctx, 'header'), html, text, headers });
  }

  private preparedHtml(source: string, trackLinks: boolean, ownBase: string): PreparedHtml {
    const key = `${trackLinks ? 1 : 0}${ownBase}\n${source}`;
    let p = this.htmls.get(key);
    if (!p) this.htmls.set(key, (p = prepareHtml(source, { trackLinks, ownBase })));
    return p;
  }

  private prepare(d: ComposeTarget, domain: DomainRow): Promise<PreparedMessage> {
    let p = this.prepared.get(d.message_id);
    if (!p) {
      p = this.build(d, domain);
      this.prepared.set(d.message_id, p, { size: d.content.length * 4 + 2048 });
      // An outage (the link rows not written) is not kept: the next attempt prepares again. Content that cannot be
      // composed is kept, failed: each of the message's other deliveries fails at once instead of parsing it again.
      p.catch((err) => {
        if (isOutage(err)) this.prepared.delete(d.message_id);
      });
    }
    return p;
  }

  private async build(d: ComposeTarget, domain: DomainRow): Promise<PreparedMessage> {
    const content = decodeContent(d.content);
    // Headers, boundaries and attachments are encoded here once; a recipient's copy encodes only what differs.
    const mime = this.shapes.forMessage({ ...content, date: new Date(content.date) });
    if (!content.plan) return { bytes: mime.compose({ subject: content.subject, html: content.html, text: content.text }) };
    const { base } = recipientContext({ config: this.config, domain, fields: {} }, null);
    const html = content.html === undefined ? null : this.preparedHtml(content.html, content.plan.links, base);
    if (html?.links.length) {
      // Every worker computes the same rows (document order): the first to send inserts them, the others find them.
      const rows = html.links.map((l, idx) => ({ message_id: d.message_id, idx, url: l.url, templated: l.templated }));
      for (let i = 0; i < rows.length; i += 500)
        await this.db('tracked_links')
          .insert(rows.slice(i, i + 500))
          .onConflict(['message_id', 'idx'])
          .ignore();
    }
    return { content, html, mime };
  }
}
