import type { Config } from '../config';
import type { DomainRow } from '../domains/domains';
import { yesNo } from '../auth/users';
import { composeHosts } from '../domains/names';
import { hasTags, renderTags, TagContext, usesTag } from '../personalize/render';
import { rewriteHtml } from './rewrite';
import { newTrackId, trackingBase, trackingSecret, TrackingUrls, trackingUrls } from './tokens';

/**
 * What a message gets at send time. Precedence: the message's TrackLinks / TrackOpens, when given, win over
 * the domain's LinkTracking / OpenTracking; the domain's UnsubscribeLink adds the unsubscribe link and the
 * RFC 8058 headers, and list sends (TargetListID) always carry them. Tracking touches HTML bodies only.
 */
export interface TrackingPlan {
  links: boolean;
  opens: boolean;
  unsubscribe: boolean;
}

export function trackingPlan(domain: DomainRow, req: { trackLinks?: boolean; trackOpens?: boolean }, listSend: boolean): TrackingPlan {
  return {
    links: req.trackLinks ?? !!yesNo(domain.link_tracking),
    opens: req.trackOpens ?? !!yesNo(domain.open_tracking),
    unsubscribe: !!yesNo(domain.unsubscribe_link) || listSend,
  };
}

export interface Content {
  subject: string;
  html?: string;
  text?: string;
}

/** Does this content need its own copy per recipient (personal tags or tracking)? */
export function needsVariants(plan: TrackingPlan, c: Content): boolean {
  return hasTags(c.subject) || hasTags(c.html) || hasTags(c.text) || plan.unsubscribe || (!!c.html && (plan.links || plan.opens));
}

export interface Variant extends Content {
  trackId: string | null;
  headers: Record<string, string>;
}

/** Per-message state shared by its recipients' variants: link targets get one index each. */
export class LinkTable {
  readonly urls: string[] = [];
  private readonly index = new Map<string, number>();
  indexOf(url: string): number {
    let i = this.index.get(url);
    if (i === undefined) {
      i = this.urls.length;
      this.urls.push(url);
      this.index.set(url, i);
    }
    return i;
  }
}

export interface VariantInput {
  config: Config;
  domain: DomainRow;
  plan: TrackingPlan;
  content: Content;
  /** Subscriber:<Field> values; without a subscriber, at least EmailAddress (the recipient). */
  fields: Record<string, string>;
  links: LinkTable;
  /** The recipient's track id when it was chosen already (compose at delivery); by default a new one when needed. */
  trackId?: string | null;
}

export const UNSUB_TAGS = ['Link:Unsubscribe', 'Link:Suppression'];

/** Does each recipient's copy need its own track id (tracking, an unsubscribe link or header)? */
export function needsTrackId(plan: TrackingPlan, content: Content): boolean {
  // The plan decides most sends; scanning the bodies for the unsubscribe tags (three regexes per tag) comes last.
  if (plan.unsubscribe || (!!content.html && (plan.links || plan.opens))) return true;
  return [content.html, content.text].some((s) => UNSUB_TAGS.some((t) => usesTag(s, t)));
}

/** What one recipient's tags and links resolve against: its tracking URLs (when tracked) and its fields. */
export function recipientContext(
  /** `secret`: trackingSecret(config), when the caller keeps it (an HMAC to derive it per recipient was 1 % of a worker). */
  v: { config: Config; domain: DomainRow; fields: Record<string, string>; secret?: Buffer },
  trackId: string | null,
): { ctx: TagContext; urls: TrackingUrls | null; base: string } {
  const base = trackingBase(v.config, v.domain);
  const urls = trackId ? trackingUrls(v.secret ?? trackingSecret(v.config), base, trackId) : null;
  const ctx: TagContext = {
    subscriber: v.fields,
    // Getters: the unsubscribe URL (an HMAC) is made only when a tag or the plan asks for it.
    links: urls
      ? {
          get Unsubscribe() {
            return urls.unsubscribe;
          },
          get Suppression() {
            return urls.unsubscribe;
          },
        }
      : {},
    mfromDomain: composeHosts(v.domain, v.config).mfromHost,
  };
  return { ctx, urls, base };
}

/** The unsubscribe footer added to a tracked HTML body that has no unsubscribe tag of its own. */
export function unsubscribeFooter(url: string): string {
  return `<p style="font-size:12px;color:#777777;text-align:center;margin:24px 0 0"><a href="${url}" style="color:#777777">Unsubscribe</a></p>`;
}

/** The unsubscribe line added to a text body without an unsubscribe tag. */
export function unsubscribeText(text: string, url: string): string {
  return `${text.replace(/\s+$/, '')}\n\nUnsubscribe: ${url}\n`;
}

/** One recipient's subject, bodies and headers: tags rendered, links and pixel tracked, unsubscribe added. */
export function buildVariant(v: VariantInput): Variant {
  const { plan, content } = v;
  const trackId = v.trackId !== undefined ? v.trackId : needsTrackId(plan, content) ? newTrackId() : null;
  const { ctx, urls, base } = recipientContext(v, trackId);
  const subject = renderTags(content.subject, ctx, 'header');
  let html = content.html === undefined ? undefined : renderTags(content.html, ctx, 'html');
  let text = content.text === undefined ? undefined : renderTags(content.text, ctx, 'text');
  const headers: Record<string, string> = {};
  if (urls && plan.unsubscribe) {
    headers['List-Unsubscribe'] = `<${urls.unsubscribe}>`;
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  if (html !== undefined && urls) {
    const footer = plan.unsubscribe && !UNSUB_TAGS.some((t) => usesTag(content.html, t)) ? unsubscribeFooter(urls.unsubscribe) : null;
    html = rewriteHtml(html, {
      clickUrl: plan.links ? urls.click : null,
      indexOf: (u) => v.links.indexOf(u),
      pixelUrl: plan.opens ? urls.open : null,
      footerHtml: footer,
      ownBase: base,
    });
  }
  if (text !== undefined && urls && plan.unsubscribe && !UNSUB_TAGS.some((t) => usesTag(content.text, t))) {
    text = unsubscribeText(text, urls.unsubscribe);
  }
  return { subject, html, text, trackId, headers };
}
