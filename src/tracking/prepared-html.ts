import escapeHtml from 'escape-html';
import { findTags, fixedOriginOf, rawFallback, renderTags, TagContext } from '../personalize/render';
import { isTrackableHref, Node, noTrack, parseWithOffsets } from './rewrite';

/**
 * An HTML body parsed once per message for compose at delivery: the same edits rewriteHtml makes (tracked hrefs,
 * pixel and footer before </body>), found on the template, so each recipient's copy is only substitution.
 *
 * Personalisation tags are swapped for placeholders (private-use characters, inert in HTML) before parsing, so a
 * tag inside an attribute, even one with a quoted fallback, cannot change the document's shape. Tracked links get
 * one index per distinct target in document order, so every worker computes the same `tracked_links` rows. A
 * link whose href holds tags keeps its href as written (a templated row); the click route renders it for the
 * clicking delivery, which yields the URL that recipient's copy shows.
 */
export interface PreparedHtml {
  pieces: Piece[];
  /** tracked_links rows by index. */
  links: { url: string; templated: boolean }[];
}

type Piece =
  | { k: 'lit'; s: string }
  | { k: 'tag'; src: string }
  /** A tracked href: `href` holds the decoded value as pieces; `span` is the attribute as written. */
  | { k: 'href'; idx: number; href: (string | { src: string })[] | null; span: Piece[] }
  | { k: 'insert' }
  /** A triple-brace tag whose raw fallback holds links: its value when it has one, else the fallback's pieces. */
  | { k: 'choice'; value: string; fallback: Piece[] }
  | { k: 'end' };

const OPEN = '\uE000';
const CLOSE = '\uE001';
const PLACEHOLDER = /\uE000(\d+)\uE001/g;
/** Closes a raw fallback written out after its tag's placeholder. */
const END = '\uE002';
const PIECE = /\uE000(\d+)\uE001|\uE002/g;

/** The marker characters themselves, where a body already holds them: as character references, which show the same. */
const MARKERS = /[\uE000-\uE002]/g;

export function prepareHtml(written: string, opts: { trackLinks: boolean; ownBase: string }): PreparedHtml {
  // A marker left in the HTML would be read as one of ours: "\uE0000\uE001" copied tag 0 (an unsubscribe link, say) into
  // the copy, and a stray "\uE002" made preparing a body with a link fallback throw, so every copy failed.
  const html = written.replace(MARKERS, (c) => `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`);
  const found = findTags(html);
  const tags = found.map((t) => html.slice(t.start, t.end));
  const mark = (expand: Map<number, string>) => {
    let out = '';
    let from = 0;
    found.forEach((t, i) => {
      out += `${html.slice(from, t.start)}${OPEN}${i}${CLOSE}${expand.has(i) ? `${expand.get(i)}${END}` : ''}`;
      from = t.end;
    });
    return out + html.slice(from);
  };
  let marked = mark(new Map());
  let doc = parseWithOffsets(marked);
  // A raw fallback with links in text content is written out after its tag and parsed with the document, so its links
  // are tracked as rendering the copy and then rewriting it (buildVariant) tracks them; each copy then shows either
  // the tag's value or that fallback. Only links need it: any other fallback stays opaque inside its tag.
  const expand = linkFallbacks(doc, tags);
  if (expand.size) doc = parseWithOffsets((marked = mark(expand)));
  // Placeholders to pieces: literal text, tag sources and the ends of written-out fallbacks.
  const split = (s: string): Piece[] => {
    const out: Piece[] = [];
    let at = 0;
    for (const m of s.matchAll(PIECE)) {
      if (m.index! > at) out.push({ k: 'lit', s: s.slice(at, m.index) });
      const i = Number(m[1]);
      if (m[1] === undefined) out.push({ k: 'end' });
      else if (expand.has(i)) out.push({ k: 'choice', value: rawFallback(tags[i])!.value, fallback: [] });
      else out.push({ k: 'tag', src: tags[i] });
      at = m.index! + m[0].length;
    }
    if (at < s.length) out.push({ k: 'lit', s: s.slice(at) });
    return out;
  };
  const restore = (s: string) => s.replace(PLACEHOLDER, (_m, i) => tags[Number(i)]);

  const links: { url: string; templated: boolean }[] = [];
  const index = new Map<string, number>();
  const edits: { start: number; end: number; piece: Piece }[] = [];
  let body: Node | null = null;
  let htmlEl: Node | null = null;
  const walk = (node: Node) => {
    if (node.tagName === 'body') body = node;
    if (node.tagName === 'html') htmlEl = node;
    const loc = node.sourceCodeLocation?.attrs?.href;
    if (opts.trackLinks && (node.tagName === 'a' || node.tagName === 'area') && node.attrs && loc && !noTrack(node.attrs)) {
      const href = (node.attrs.find((a) => a.name === 'href')?.value ?? '').trim();
      const templated = href.includes(OPEN);
      // A templated href is judged per recipient, once rendered; a static one here, as rewriteHtml does. A templated
      // one is tracked only when it names its scheme and host before any tag (`https://shop.example/?u={{…}}`), tags
      // written with entities included: one whose host comes from a tag (`{{ Subscriber:Website }}`, `https://x{{…}}`)
      // would make the sender's tracking host redirect wherever a subscriber's own field points, for anyone the link
      // reaches. It goes out as rendered, untracked, as do the system links (`{{ Link:Unsubscribe }}`).
      if (templated ? fixedOriginOf(restore(href)) !== null : isTrackableHref(href) && !href.startsWith(`${opts.ownBase}/`)) {
        const url = templated ? restore(href) : href;
        let idx = index.get(url);
        if (idx === undefined) {
          idx = links.length;
          links.push({ url, templated });
          index.set(url, idx);
        }
        const hrefParts = templated ? split(href).map((p) => (p.k === 'lit' ? p.s : { src: (p as { src: string }).src })) : null;
        edits.push({
          start: loc.startOffset,
          end: loc.endOffset,
          piece: { k: 'href', idx, href: hrefParts, span: split(marked.slice(loc.startOffset, loc.endOffset)) },
        });
      }
    }
    for (const child of node.childNodes ?? []) walk(child);
    if (node.content) walk(node.content);
  };
  walk(doc);
  const b = body as Node | null;
  const h = htmlEl as Node | null;
  const at = b?.sourceCodeLocation?.endTag?.startOffset ?? h?.sourceCodeLocation?.endTag?.startOffset ?? marked.length;
  edits.push({ start: at, end: at, piece: { k: 'insert' } });
  // Document order; at one offset an href edit (never empty) cannot meet the insert, which is zero-length.
  edits.sort((x, y) => x.start - y.start || x.end - y.end);
  const pieces: Piece[] = [];
  let pos = 0;
  for (const e of edits) {
    // Appended one by one: a spread passes every piece as an argument, and 150,000 tags in one text overflowed the stack.
    for (const piece of split(marked.slice(pos, e.start))) pieces.push(piece);
    pieces.push(e.piece);
    pos = e.end;
  }
  for (const piece of split(marked.slice(pos))) pieces.push(piece);
  return { pieces: expand.size ? nestFallbacks(pieces) : pieces, links };
}

/** Indices of the triple-brace tags in text content whose raw fallback holds a link, with that fallback. */
function linkFallbacks(doc: Node, tags: string[]): Map<number, string> {
  const out = new Map<number, string>();
  const walk = (node: Node) => {
    if (node.nodeName === '#text' && node.value?.includes(OPEN)) {
      for (const m of node.value.matchAll(PLACEHOLDER)) {
        const f = rawFallback(tags[Number(m[1])]);
        // A fallback that ends the body would move the footer and pixel into it: left opaque, as before.
        if (f && /<(a|area)\s/i.test(f.fallback) && !/<\/(body|html)/i.test(f.fallback) && !f.fallback.includes(END)) out.set(Number(m[1]), f.fallback);
      }
    }
    for (const child of node.childNodes ?? []) walk(child);
    if (node.content) walk(node.content);
  };
  walk(doc);
  return out;
}

/** Moves the pieces between a choice and its end marker into the choice's fallback. */
function nestFallbacks(flat: Piece[]): Piece[] {
  const top: Piece[] = [];
  const open: Piece[][] = [top];
  for (const p of flat) {
    if (p.k === 'end') open.pop();
    else {
      open[open.length - 1].push(p);
      if (p.k === 'choice') open.push(p.fallback);
    }
  }
  return top;
}

export interface RecipientLinks {
  /** Click URL of link `idx`, or null when this copy is not tracked (no track id). */
  click: ((idx: number) => string) | null;
  /** Footer and pixel inserted before </body> ('' for none). */
  insert: string;
  ownBase: string;
}

/** One recipient's HTML from the prepared body: tags rendered, tracked hrefs and the insert substituted. */
export function renderPrepared(p: PreparedHtml, ctx: TagContext, r: RecipientLinks): string {
  let out = '';
  const emit = (pieces: Piece[]) => {
    for (const piece of pieces) {
      if (piece.k === 'lit') out += piece.s;
      else if (piece.k === 'tag') out += renderTags(piece.src, ctx, 'html');
      else if (piece.k === 'insert') out += r.insert;
      else if (piece.k === 'choice') {
        const value = renderTags(piece.value, ctx, 'html');
        if (value) out += value;
        else emit(piece.fallback);
      } else if (piece.k === 'end') continue;
      else if (!r.click) emit(piece.span);
      else if (piece.href === null) out += `href="${escapeHtml(r.click(piece.idx))}"`;
      else {
        // Rendered as text is the decoded value the recipient's copy would show (subscriber values are escaped in
        // HTML and decoded again by the parser); tracked only if that value is a trackable link, as rewriteHtml does.
        const href = piece.href
          .map((x) => (typeof x === 'string' ? x : renderTags(x.src, ctx, 'text')))
          .join('')
          .trim();
        if (isTrackableHref(href) && !href.startsWith(`${r.ownBase}/`)) out += `href="${escapeHtml(r.click(piece.idx))}"`;
        else emit(piece.span);
      }
    }
  };
  emit(p.pieces);
  return out;
}
