import escapeHtml from 'escape-html';
import { lazy } from '../lazy';

// At the first HTML body a process parses (src/lazy.ts): the accept path imports this file, and most requests carry no HTML.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by typeof import
const parse5 = lazy(() => require('parse5') as typeof import('parse5'));

/**
 * Elements an HTML body may nest. Mail layouts nest tables a few dozen deep; parse5's time grows with the depth times
 * the tokens (30,000 nested <div>s, 150 KB: 7.7 s of the worker's event loop) and our recursive walks overflow near
 * 4,500, so a deeper body is refused, with parse5 counting the depth itself, as it builds the tree.
 */
export const MAX_HTML_DEPTH = 512;

/**
 * The most work a body may take: the sum of every element's depth, what parse5's scope checks walk. Within the depth
 * limit, 5 MB of <li> 505 deep still took 15 s; a large newsletter (30,000 elements 25 deep) needs under a million.
 */
export const MAX_HTML_WORK = 10_000_000;

export class HtmlTooDeep extends Error {}

/**
 * parse5's own tree, refusing a node placed deeper than MAX_HTML_DEPTH or past MAX_HTML_WORK (the walk up costs at
 * most the depth per node). A <template>'s content is a fragment of its own, its host known only to
 * setTemplateContent: the walk climbs through it, or nested templates started the count again at each one.
 */
function limitedAdapter() {
  const base = parse5().defaultTreeAdapter;
  type Up = { parentNode?: Up | null };
  const hosts = new WeakMap<object, Up>();
  let work = 0;
  const check = (parent: object) => {
    let depth = 0;
    for (let n: Up | null | undefined = parent as Up; n; n = n.parentNode ?? hosts.get(n)) {
      if (++depth >= MAX_HTML_DEPTH) throw new HtmlTooDeep(`its HTML nests elements more than ${MAX_HTML_DEPTH} deep`);
    }
    work += depth;
    if (work > MAX_HTML_WORK)
      throw new HtmlTooDeep(`its HTML has too many elements nested too deep (past ${MAX_HTML_WORK.toLocaleString('en-US')} element levels)`);
  };
  return {
    ...base,
    appendChild: (parent: Parameters<typeof base.appendChild>[0], node: Parameters<typeof base.appendChild>[1]) => {
      check(parent);
      base.appendChild(parent, node);
    },
    insertBefore: (
      parent: Parameters<typeof base.insertBefore>[0],
      node: Parameters<typeof base.insertBefore>[1],
      ref: Parameters<typeof base.insertBefore>[2],
    ) => {
      check(parent);
      base.insertBefore(parent, node, ref);
    },
    setTemplateContent: (template: Parameters<typeof base.setTemplateContent>[0], content: Parameters<typeof base.setTemplateContent>[1]) => {
      hosts.set(content, template as Up);
      base.setTemplateContent(template, content);
    },
  };
}

/**
 * The document tree with source offsets, so an edit can splice the original text instead of re-serialising it.
 * Throws HtmlTooDeep for a body nested past MAX_HTML_DEPTH or past MAX_HTML_WORK.
 */
export function parseWithOffsets(html: string): Node {
  return parse5().parse(html, { sourceCodeLocationInfo: true, treeAdapter: limitedAdapter() }) as unknown as Node;
}

/**
 * Rewrites an HTML body for tracking with a real HTML parser (parse5, with source offsets): only the `href`
 * attributes of tracked links change and the pixel/footer are inserted; every other byte stays as written.
 */
export interface RewriteOptions {
  /** URL that replaces link number `idx`; null = leave links alone. */
  clickUrl: ((idx: number) => string) | null;
  /** Index of a link target within the message (the same URL gets the same index). */
  indexOf: (url: string) => number;
  /** Open pixel URL, or null for no pixel. */
  pixelUrl: string | null;
  /** HTML inserted before </body> (e.g. an unsubscribe link), or null. */
  footerHtml: string | null;
  /** Links already pointing here (our own unsubscribe links) are never wrapped. */
  ownBase: string;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

export type Node = {
  nodeName: string;
  tagName?: string;
  attrs?: { name: string; value: string }[];
  /** A text node's text. */
  value?: string;
  childNodes?: Node[];
  content?: Node;
  sourceCodeLocation?: {
    startOffset: number;
    endOffset: number;
    attrs?: Record<string, { startOffset: number; endOffset: number }>;
    endTag?: { startOffset: number; endOffset: number };
  } | null;
};

const NO_TRACK_CLASS = /(^|\s)(no-link-track|notrack|no-track)(\s|$)/i;

/** Absolute http(s) targets only: mailto:, tel:, fragments, relative and script links are never rewritten. */
export function isTrackableHref(href: string): boolean {
  return /^https?:\/\/[^\s/?#]+/i.test(href.trim());
}

export function noTrack(attrs: { name: string; value: string }[]): boolean {
  return attrs.some(
    (a) => a.name === 'data-notrack' || a.name === 'data-no-track' || a.name === 'notrack' || (a.name === 'class' && NO_TRACK_CLASS.test(a.value)),
  );
}

/** The open-tracking pixel. */
export function pixelHtml(url: string): string {
  return `<img src="${escapeHtml(url)}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0" />`;
}

export function rewriteHtml(html: string, opts: RewriteOptions): string {
  const doc = parseWithOffsets(html);
  const edits: Edit[] = [];
  let body: Node | null = null;
  let htmlEl: Node | null = null;

  const walk = (node: Node) => {
    if (node.tagName === 'body') body = node;
    if (node.tagName === 'html') htmlEl = node;
    if (opts.clickUrl && (node.tagName === 'a' || node.tagName === 'area') && node.attrs && node.sourceCodeLocation?.attrs?.href) {
      const href = node.attrs.find((a) => a.name === 'href')?.value ?? '';
      if (isTrackableHref(href) && !noTrack(node.attrs) && !href.trim().startsWith(`${opts.ownBase}/`)) {
        const loc = node.sourceCodeLocation.attrs.href;
        edits.push({ start: loc.startOffset, end: loc.endOffset, text: `href="${escapeHtml(opts.clickUrl(opts.indexOf(href.trim())))}"` });
      }
    }
    for (const child of node.childNodes ?? []) walk(child);
    if (node.content) walk(node.content);
  };
  walk(doc);

  const inserts = `${opts.footerHtml ?? ''}${opts.pixelUrl ? pixelHtml(opts.pixelUrl) : ''}`;
  if (inserts) {
    const b = body as Node | null;
    const h = htmlEl as Node | null;
    const at = b?.sourceCodeLocation?.endTag?.startOffset ?? h?.sourceCodeLocation?.endTag?.startOffset ?? html.length;
    edits.push({ start: at, end: at, text: inserts });
  }
  edits.sort((x, y) => y.start - x.start);
  let out = html;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}
