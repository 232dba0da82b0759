import crypto from 'node:crypto';
import * as base64 from 'nodemailer/lib/base64';
import MailComposer from 'nodemailer/lib/mail-composer';
import { foldLines, isPlainText } from 'nodemailer/lib/mime-funcs';
import MimeNode from 'nodemailer/lib/mime-node';
import * as qp from 'nodemailer/lib/qp';
import { LRUCache } from 'lru-cache';
import { addr, composerOptions, type ComposeInput } from './compose';

/** What differs between the recipients of one message. */
export interface MimeVariant {
  subject: string;
  html?: string;
  text?: string;
  /** Added to (or replacing) the message's own headers, in this order: unstructured text values only. */
  headers?: Record<string, string>;
}

/** The message's own part of a ComposeInput: everything but what a variant carries. */
export type MessageBase = Omit<ComposeInput, 'subject' | 'html' | 'text'>;

type Cte = string | false;
/** Where a header slot's value comes from: the variant (subject, its headers) or the message (To, Message-ID, Date). */
type Source = 'subject' | 'extra' | 'to' | 'id' | 'date';
type Part =
  | Buffer // the same bytes in every copy
  | { text: string[] } // header and boundary lines, split where the message's boundary goes
  | { header: string; key: string; from: Source }
  | { body: 'text' | 'html'; cte: Cte };

// Headers whose value nodemailer formats by kind (addresses, ids, parameters): a variant may not vary them, since
// their slots are rendered as unstructured text.
const STRUCTURED = /^(from|sender|to|cc|bcc|reply-to|date|message-id|in-reply-to|references|content-.*|mime-version)$/i;
// The message's own fields that a shared shape leaves open, by the key MimeNode writes them with.
const PER_MESSAGE: Record<string, Source> = { To: 'to', 'Message-ID': 'id', Date: 'date' };
// qp.Encoder works in slices of this many bytes (ENCODE_SLICE_SIZE in nodemailer/lib/qp).
const QP_SLICE = 64 * 1024;
const isWsp = (c: number | undefined) => c === 0x20 || c === 0x09;
/** 16 hex digits like MimeNode's own, from randomUUID's pooled entropy (randomBytes per message was 2 % of a worker). */
const newBoundary = () => crypto.randomUUID().replace(/-/g, '').slice(0, 16);

/**
 * The layouts of messages that differ only in To, Message-ID, Date and boundary (a batch's messages from one sender,
 * without attachments): compiled once, shared. Owned by whoever composes (one per worker), bounded.
 */
export class MimeShapes {
  private readonly shapes: LRUCache<string, MimeShape>;

  constructor(max = 1000) {
    this.shapes = new LRUCache({ max });
  }

  /** The message's MIME; `baseBoundary` (16 hex digits, random by default) fixes its boundaries, for comparisons. */
  forMessage(base: MessageBase, baseBoundary?: string): MessageMime {
    if (base.attachments.length) return new MessageMime(base, baseBoundary);
    const key = JSON.stringify([base.from, base.cc, base.replyTo, base.headers, base.to.length > 0]);
    let shape = this.shapes.get(key);
    if (!shape) this.shapes.set(key, (shape = new MimeShape()));
    return new MessageMime(base, baseBoundary, shape);
  }
}

/** Layouts by the shape of a copy, and what renders the open fields. */
class MimeShape {
  readonly layouts = new Map<string, Part[]>();
  /** Stands for the boundary in the layouts: each message puts its own in its place (same length, same folding). */
  readonly marker = newBoundary();
  /** Only encodes header values (a pure function of its input); it never holds a message. */
  readonly probe = new MimeNode('text/plain', { baseBoundary: '-' });
}

/**
 * A message's MIME, built once, for many recipients: what composeMime (nodemailer's MailComposer) gives for the base
 * plus a variant, byte for byte, without a stream per part. The structure comes from MailComposer itself, compiled
 * once per layout (which parts exist and how each body is transfer-encoded) and shared by the messages of a shape
 * (MimeShapes); the headers, boundary lines and attachment parts that do not vary are serialised once, and per copy
 * only the subject, the variant's headers, To, Message-ID, Date and the text/html bodies are encoded (nodemailer's
 * own header, quoted-printable and base64 encoders) and concatenated. The boundary is fixed per message, so every
 * copy of a message shares it, and no two messages do.
 */
export class MessageMime {
  readonly baseBoundary: string;

  constructor(
    private readonly base: MessageBase,
    baseBoundary: string = newBoundary(),
    private readonly shape = new MimeShape(),
  ) {
    if (!/^[0-9a-f]{16}$/.test(baseBoundary)) throw new Error('a boundary is 16 hex digits');
    this.baseBoundary = baseBoundary;
  }

  compose(v: MimeVariant): Buffer {
    const extra = v.headers ?? {};
    const cteText = v.text ? transferEncoding(v.text) : null;
    const cteHtml = v.html ? transferEncoding(v.html) : null;
    const key = `${v.subject ? 's' : '-'}|${cteText}|${cteHtml}|${Object.keys(extra).join('\n')}`;
    let parts = this.shape.layouts.get(key);
    if (!parts) this.shape.layouts.set(key, (parts = this.layout(v, extra)));
    const out: Buffer[] = [];
    let length = 0;
    for (const p of parts) {
      let b: Buffer | null;
      if (Buffer.isBuffer(p)) b = p;
      else if ('text' in p) b = Buffer.from(p.text.join(this.baseBoundary), 'utf8');
      else if ('header' in p) b = this.headerField(p.key, this.valueOf(p.from, p.header, v));
      else b = encodeBody(p.body === 'text' ? v.text! : v.html!, p.cte);
      if (b) {
        out.push(b);
        length += b.length;
      }
    }
    // MimeNode's LastNewline: the message ends with a line break (only a single-part message can end without one).
    const last = out[out.length - 1];
    const tail = last?.[last.length - 1];
    if (tail !== 0x0a) {
      const nl = Buffer.from(tail === 0x0d ? '\n' : '\r\n');
      out.push(nl);
      length += nl.length;
    }
    return Buffer.concat(out, length);
  }

  private valueOf(from: Source, header: string, v: MimeVariant): unknown {
    if (from === 'subject') return v.subject;
    if (from === 'extra') return v.headers?.[header];
    if (from === 'to') return this.base.to.map(addr);
    return from === 'id' ? this.base.messageIdHeader : this.base.date;
  }

  /** One header field as MimeNode.buildHeaders writes it: encoded, folded at 76, left out when blank. */
  private headerField(key: string, value: unknown): Buffer | null {
    const encoded = this.shape.probe.encodeHeaderValue(key, (value ?? '') as string);
    return encoded.trim() ? Buffer.from(foldLines(`${key}: ${encoded}`, 76) + '\r\n', 'utf8') : null;
  }

  /**
   * Compiles the message with MailComposer for this variant's shape, the varying header values replaced by markers
   * and the boundary by the shape's marker, and serialises the tree the way MimeNode.stream does (headers, blank
   * line, encoded content, then each child between boundary lines), with the bodies and the open header fields left
   * as slots.
   */
  private layout(v: MimeVariant, extra: Record<string, string>): Part[] {
    const marker = this.shape.marker;
    const marks = new Map<string, string>(); // marker -> header name in the variant ('' for the subject)
    const mark = (name: string) => {
      const m = `PSTRN${marks.size}x${marker}`; // no header value of the message holds it by chance
      marks.set(m, name);
      return m;
    };
    const headers: Record<string, string> = { ...this.base.headers };
    for (const k of Object.keys(extra)) {
      if (STRUCTURED.test(k)) throw new Error(`a per-recipient header cannot be ${k}`);
      headers[k] = mark(k);
    }
    const subject = v.subject ? mark('') : '';
    const root = new MailComposer(composerOptions({ ...this.base, subject, html: v.html, text: v.text, headers }, { baseBoundary: marker })).compile();

    const parts: Part[] = [];
    let pending = '';
    const flush = () => {
      if (pending) parts.push(pending.includes(marker) ? { text: pending.split(marker) } : Buffer.from(pending, 'utf8'));
      pending = '';
    };
    const slot = (p: Part) => {
      flush();
      parts.push(p);
    };
    const walk = (node: MimeNode) => {
      const head = node.buildHeaders();
      if (node === root) {
        // One field per entry (a folded field continues on lines that start with whitespace).
        for (const field of head.split(/\r\n(?![ \t])/)) {
          // A long value folds right after the colon ("Message-ID:\r\n <…>"); a marker is short and never does.
          const colon = field.indexOf(':');
          const key = field.slice(0, colon);
          const name = colon > 0 ? marks.get(field.slice(colon + 2)) : undefined;
          if (name !== undefined) slot({ header: name, key, from: name === '' ? 'subject' : 'extra' });
          else if (PER_MESSAGE[key]) slot({ header: key, key, from: PER_MESSAGE[key] });
          else pending += field + '\r\n';
        }
        pending += '\r\n';
      } else pending += head + '\r\n\r\n';
      const content = node.content;
      if (typeof content === 'string' && content) {
        const type = String(node.getHeader('Content-Type') ?? '');
        const body = /^text\/plain\b/i.test(type) ? 'text' : /^text\/html\b/i.test(type) ? 'html' : null;
        if (!body || content !== v[body]) throw new Error(`unexpected text part ${type}`);
        slot({ body, cte: node.getTransferEncoding() });
      } else if (Buffer.isBuffer(content)) {
        slot(encodeStatic(content, node.getTransferEncoding()));
      } else if (content) throw new Error('only string and Buffer content can be composed');
      if (node.multipart) {
        node.childNodes.forEach((child, i) => {
          pending += `${i ? '\r\n' : ''}--${String(node.boundary)}\r\n`;
          walk(child);
        });
        pending += `\r\n--${String(node.boundary)}--\r\n`;
      }
    };
    walk(root);
    flush();
    return parts;
  }
}

// hasLongerLines(str, 76) without compiling its RegExp on every call.
const LONGER_THAN_76 = /^.{77,}/m;
const LATIN_LETTER = /[A-Za-z]/;

/**
 * The Content-Transfer-Encoding MimeNode picks for a text body (7bit, quoted-printable or base64): the rules of
 * MimeNode.setContent + getTransferEncoding for a string on a text/* node without a Content-Transfer-Encoding header.
 * Hand-written because building a MimeNode per body per copy (its headers, key normalisation, the RegExp that
 * hasLongerLines compiles per call) was 8 % of a delivery worker's busy time; tested against MimeNode on random input.
 */
export function transferEncoding(body: string): Cte {
  if (!body) return false;
  const plain = isPlainText(body);
  if (plain && !(body.length > 128 * 1024 || LONGER_THAN_76.test(body))) return '7bit';
  // Plain text holds nothing that _getTextEncoding counts against Latin letters: Q as soon as it has one letter.
  if (plain) return LATIN_LETTER.test(body) ? 'quoted-printable' : 'base64';
  return textEncoding(body) === 'Q' ? 'quoted-printable' : 'base64';
}

/**
 * MimeNode._getTextEncoding (not exported by nodemailer's types): Q when Latin letters outnumber control and
 * non-ASCII characters, else B.
 */
function textEncoding(value: string): 'Q' | 'B' {
  let nonLatin = 0;
  let latin = 0;
  for (let i = 0, len = value.length; i < len; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x08 || code === 0x0b || code === 0x0c || (code >= 0x0e && code <= 0x1f) || code >= 0x80) nonLatin++;
    else if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) latin++;
  }
  return nonLatin < latin ? 'Q' : 'B';
}

/** An attachment part's content as MimeNode streams it (base64 in 76-column lines, or as it is). */
function encodeStatic(content: Buffer, cte: Cte): Buffer {
  if (cte === 'base64') return Buffer.from(base64.wrap(base64.encode(content), 76), 'latin1');
  if (cte === 'quoted-printable') throw new Error('quoted-printable attachments are not supported');
  return content;
}

function encodeBody(body: string, cte: Cte): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  // base64.Encoder's output is documented as wrap(encode(input)) however the input is chunked.
  if (cte === 'base64') return Buffer.from(base64.wrap(base64.encode(bytes), 76), 'latin1');
  if (cte === 'quoted-printable') return Buffer.from(qpLikeEncoder(bytes), 'latin1');
  return bytes;
}

/**
 * Quoted-printable exactly as qp.Encoder streams a text body that arrives as one chunk. Hand-written because the
 * module exports only encode() and wrap(), and the stream differs from wrap(encode(x)) at its seams: it holds the
 * input's trailing whitespace back until the flush, encodes in 64 KiB slices (whitespace that ends a slice stays
 * literal when more text follows on the line) and re-wraps each slice's last, unfinished line with the next one.
 */
function qpLikeEncoder(buf: Buffer): string {
  let end = buf.length;
  while (end > 0 && isWsp(buf[end - 1])) end--;
  const chunks: Buffer[] = buf.length - end <= QP_SLICE ? [buf.subarray(0, end), buf.subarray(end)] : [buf];
  let out = '';
  let line = '';
  for (const chunk of chunks) {
    for (let start = 0; start < chunk.length; start += QP_SLICE) {
      const stop = Math.min(start + QP_SLICE, chunk.length);
      let encoded = qp.encode(chunk.subarray(start, stop));
      const next = stop < chunk.length ? chunk[stop] : undefined;
      // encode() takes the slice's end as the input's end, where whitespace must be escaped (`=20`, `=09`).
      if (next !== undefined && next !== 0x0a && next !== 0x0d && isWsp(chunk[stop - 1])) encoded = encoded.slice(0, -3) + String.fromCharCode(chunk[stop - 1]);
      const wrapped = qp.wrap(line + encoded, 76);
      const lf = wrapped.lastIndexOf('\n');
      line = wrapped.substring(lf + 1);
      out += wrapped.substring(0, lf + 1);
    }
  }
  return out + line;
}
