import escapeHtml from 'escape-html';

/**
 * Personalization tags, Octeth syntax:
 *   {{ Subscriber:FirstName }}            value, HTML-escaped in HTML bodies
 *   {{{ Link:Unsubscribe }}}              value unescaped (subscriber-supplied values are still escaped, see below)
 *   {{ Subscriber:FirstName|"there" }}    fallback when the value is missing or empty
 *   {{ upper Subscriber:FirstName }}      helpers: upper, lower, capitalize
 *   %Subscriber:FirstName%                legacy syntax, no fallback
 * Tag names are case-sensitive. Only Postern's namespaces (Subscriber, Link, User, Random, List) and
 * MFROMDomain are tags; any other `{{ … }}` text is left alone, so mail that shows template code still can.
 * A tag that does not resolve renders its fallback or nothing, never itself. Subscriber values can be written
 * by anyone through the unauthenticated subscriber.subscribe, so in HTML they are always escaped, also inside
 * triple braces: only Postern's own values (links, MFROMDomain) are emitted raw.
 * (Handlebars, Mustache and Liquid cannot parse `Subscriber:X|"fallback"` or `%Tag%`, hence this renderer.)
 */
export interface TagContext {
  /** Subscriber fields: EmailAddress, SubscriberID, ListID, custom fields by alias and CustomField<ID>. */
  subscriber: Record<string, string>;
  /** Link:<Name> values, e.g. Unsubscribe. */
  links: Record<string, string>;
  mfromDomain: string;
  /**
   * Characters the filled tags of one copy may still add, all its parts together: a 40 KB template of 2,000
   * `{{ Subscriber:Bio }}` with a 64 KiB field rendered 131 MB per recipient, in a worker every tenant shares.
   */
  budget?: { left: number; of: number };
}

/** A copy whose filled tags would pass its budget: it fails, as content that cannot be composed. */
export class RenderBudgetError extends Error {
  constructor(of: number) {
    super(`the personalised content is over ${of} characters once its tags are filled (SMTP_MAX_MESSAGE_BYTES)`);
  }
}

function spend(ctx: TagContext, v: string): string {
  if (ctx.budget && (ctx.budget.left -= v.length) < 0) throw new RenderBudgetError(ctx.budget.of);
  return v;
}

export type RenderMode = 'html' | 'text' | 'header';

const NAME = '(?:(?:Subscriber|Link|User|Random|List):[A-Za-z0-9_]+|MFROMDomain)';
const FALLBACK = '(?:\\s*\\|\\s*"((?:[^"\\\\]|\\\\.)*)")?';
const HELPER = '(?:([a-z]+)\\s+)?';
const TRIPLE = new RegExp(`\\{\\{\\{\\s*${HELPER}(${NAME})${FALLBACK}\\s*\\}\\}\\}`, 'g');
const DOUBLE = new RegExp(`\\{\\{\\s*${HELPER}(${NAME})${FALLBACK}\\s*\\}\\}`, 'g');
const ONE_TRIPLE = new RegExp(`^${TRIPLE.source}$`);
const LEGACY = new RegExp(`%(${NAME})%`, 'g');
const ANY = new RegExp(`${TRIPLE.source}|${DOUBLE.source}|${LEGACY.source}`);
/** Every tag, a triple-brace one before a double one at the same place: groups 1-3 triple, 4-6 double, 7 legacy. */
const ALL = new RegExp(ANY.source, 'g');

/**
 * The origin (`https://host[:port]`) a URL holding tags fixes before its first tag, or null when a tag (or nothing)
 * could choose its scheme or host: where a tracked link may send a click (src/tracking/prepared-html.ts).
 */
export function fixedOriginOf(url: string): string | null {
  const m = ANY.exec(url);
  const o = /^(https?:\/\/[^\s/?#\\]+)[/?#]/i.exec(m ? url.slice(0, m.index) : url);
  if (!o) return null;
  try {
    return new URL(o[1]).origin;
  } catch {
    return null;
  }
}

/** Where each of Postern's own tags in `s` starts and ends. */
export function tagSpans(s: string): [number, number][] {
  return [...s.matchAll(ALL)].map((m) => [m.index!, m.index! + m[0].length]);
}

export function hasTags(s: string | undefined): boolean {
  return !!s && ANY.test(s);
}

export function usesTag(s: string | undefined, name: string): boolean {
  if (!s) return false;
  for (const re of [TRIPLE, DOUBLE, LEGACY]) {
    for (const m of s.matchAll(re)) if ((re === LEGACY ? m[1] : m[2]) === name) return true;
  }
  return false;
}

function lookup(name: string, ctx: TagContext): { value: string | undefined; ours: boolean } {
  if (name === 'MFROMDomain') return { value: ctx.mfromDomain, ours: true };
  const [ns, key] = name.split(':');
  if (ns === 'Subscriber') return { value: Object.prototype.hasOwnProperty.call(ctx.subscriber, key) ? ctx.subscriber[key] : undefined, ours: false };
  if (ns === 'Link') return { value: Object.prototype.hasOwnProperty.call(ctx.links, key) ? ctx.links[key] : undefined, ours: true };
  return { value: undefined, ours: false };
}

function applyHelper(helper: string | undefined, v: string): string {
  if (helper === 'upper') return v.toUpperCase();
  if (helper === 'lower') return v.toLowerCase();
  if (helper === 'capitalize') return v.charAt(0).toUpperCase() + v.slice(1);
  return v;
}

function out(v: string, mode: RenderMode, escape: boolean): string {
  if (mode === 'header') return v.replace(/[\r\n]+/g, ' ');
  return mode === 'html' && escape ? escapeHtml(v) : v;
}

export function renderTags(input: string, ctx: TagContext, mode: RenderMode): string {
  if (!input || !ANY.test(input)) return input;
  const resolve = (helper: string | undefined, name: string, fallback: string | undefined, raw: boolean) => {
    const { value, ours } = lookup(name, ctx);
    if (value !== undefined && value !== '') return spend(ctx, out(applyHelper(helper, value), mode, !(raw && ours)));
    return spend(ctx, out((fallback ?? '').replace(/\\(.)/g, '$1'), mode, !raw));
  };
  // One pass over the template: a value or fallback is inserted as it is and never scanned again, so a subscriber
  // field holding `{{ Subscriber:Other }}` or `%Link:Unsubscribe%` shows that text instead of pulling in another value.
  return input.replace(ALL, (_m, th, tn, tf, dh, dn, df, ln) =>
    tn !== undefined ? resolve(th, tn, tf, true) : dn !== undefined ? resolve(dh, dn, df, false) : resolve(undefined, ln, undefined, false),
  );
}

/**
 * A triple-brace tag with a fallback, as its two outcomes: the tag without the fallback (renders to '' exactly when
 * the fallback would be used) and the fallback as it is written out (raw HTML, the sender's own). Null for any other tag.
 */
export function rawFallback(src: string): { value: string; fallback: string } | null {
  const m = ONE_TRIPLE.exec(src);
  if (!m || m[3] === undefined) return null;
  return { value: `{{{ ${m[1] ? `${m[1]} ` : ''}${m[2]} }}}`, fallback: m[3].replace(/\\(.)/g, '$1') };
}

/** Where the tags of `input` are, in document order (a triple-brace tag before a double one at the same place). */
export function findTags(input: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  if (!input || !ANY.test(input)) return out;
  for (const m of input.matchAll(ALL)) out.push({ start: m.index!, end: m.index! + m[0].length });
  return out;
}
