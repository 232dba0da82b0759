import type { Attachment, ComposeInput } from './compose';
import type { TrackingPlan } from '../tracking/apply';

/**
 * What an API send stores instead of MIME (`messages.content`): the validated request after its template, once per
 * message. The worker composes the MIME from it at delivery (src/delivery/compose-at-send.ts).
 */
export interface StoredContent extends Omit<ComposeInput, 'date'> {
  /** Subject and bodies (inherited) are after the template, before personalisation. The Date header, epoch ms. */
  date: number;
  /** Per-recipient copies (tags, tracking, unsubscribe) follow this plan; null: every recipient gets the same bytes. */
  plan: TrackingPlan | null;
  /** Subscriber:<Field> values of the send's subscriber; null: `{ EmailAddress: <recipient> }`. */
  fields: Record<string, string> | null;
}

type Head = Omit<StoredContent, 'attachments'> & { v: 1; attachments: (Omit<Attachment, 'content'> & { size: number })[] };

/**
 * `<byte length of the JSON head>\n<JSON head><attachment bytes, in order>`: attachments ride as bytes, not base64 in
 * JSON (a third smaller, nothing to decode at delivery). Without attachments the whole value is UTF-8 text and is
 * handed to the driver as a string: mysql2 sends a string about as long as it is, a Buffer as hex at twice its size.
 */
export function encodeContent(c: StoredContent): Buffer | string {
  // Copied, then the two fields set: the same keys in the same order as `{ ...c, v: 1, attachments }` (the same
  // bytes), without the spread-then-properties literal V8 builds as a hash table (slower to build and to stringify).
  const head = Object.assign({}, c) as unknown as Head;
  head.v = 1;
  head.attachments = c.attachments.map(({ content, ...a }) => ({ ...a, size: content.length }));
  const json = JSON.stringify(head);
  const text = `${Buffer.byteLength(json, 'utf8')}\n${json}`;
  return c.attachments.length ? Buffer.concat([Buffer.from(text, 'utf8'), ...c.attachments.map((a) => a.content)]) : text;
}

export function decodeContent(stored: Buffer | string): StoredContent {
  const buf = Buffer.isBuffer(stored) ? stored : Buffer.from(stored, 'utf8');
  const nl = buf.indexOf(10);
  const jsonLength = nl > 0 && nl < 12 ? Number(buf.subarray(0, nl).toString('latin1')) : NaN;
  if (!Number.isInteger(jsonLength) || nl + 1 + jsonLength > buf.length) throw new Error('stored content is damaged');
  const jsonEnd = nl + 1 + jsonLength;
  const head = JSON.parse(buf.subarray(nl + 1, jsonEnd).toString('utf8')) as Head;
  if (head.v !== 1) throw new Error(`stored content version ${String(head.v)} is not known`);
  let at = jsonEnd;
  const attachments = head.attachments.map(({ size, ...a }) => {
    const content = buf.subarray(at, at + size);
    at += size;
    if (content.length !== size) throw new Error('stored content is damaged');
    return { ...a, content };
  });
  const { v: _v, ...rest } = head;
  return { ...rest, attachments };
}

/** About what encodeContent will write for `c` (a little over: the head's JSON is counted generously), without writing it. */
export function storedSizeOf(c: Pick<StoredContent, 'attachments' | 'html' | 'text' | 'subject'>): number {
  return contentBytesOf(c) + 64 * 1024;
}

/** storedSizeOf without the allowance for the head (addresses, headers, plan): what the subject, bodies and files take. */
export function contentBytesOf(c: Pick<StoredContent, 'attachments' | 'html' | 'text' | 'subject'>): number {
  // Doubled: JSON escapes (quotes, newlines) and the UTF-8 of non-ASCII text, counted generously.
  const text = (v: string | undefined) => (v === undefined ? 0 : Buffer.byteLength(v, 'utf8') * 2);
  return c.attachments.reduce((n, a) => n + a.content.length + 300, 0) + text(c.html) + text(c.text) + text(c.subject);
}

/**
 * The MIME size an accepted message will have, without composing it (that waits for delivery): bodies as
 * quoted-printable (soft line breaks, `=` and non-ASCII escaped), attachments as base64 in 76-column lines, the
 * tracking a copy gets (rewritten links, pixel, unsubscribe link and headers), headers and part boundaries at
 * their usual size. Within a few percent of the composed size for usual mail.
 */
export function estimateMimeSize(c: StoredContent): number {
  const qp = (s: string | undefined) => {
    if (s === undefined) return 0;
    const bytes = Buffer.byteLength(s, 'utf8');
    // Escaped bytes (`=XX`): every `=`, and about two UTF-8 bytes per character beyond ASCII.
    const escaped = (s.match(/=/g)?.length ?? 0) + (bytes - s.length) * 2;
    return Math.ceil((bytes + escaped * 2) * (78 / 75)) + 60;
  };
  const b64 = (n: number) => Math.ceil(n / 3) * 4 * (78 / 76);
  const addrs = [c.from, ...c.to, ...c.cc, ...c.replyTo].reduce((n, a) => n + a.email.length + a.name.length + 6, 0);
  const headers = Object.entries(c.headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
  const parts = c.attachments.reduce((n, a) => n + Math.ceil(b64(a.content.length)) + a.filename.length * 2 + 200, 0);
  let tracking = 0;
  if (c.plan) {
    if (c.plan.links && c.html) tracking += (c.html.match(/href\s*=\s*["']?https?:/gi)?.length ?? 0) * 45;
    if (c.plan.opens && c.html) tracking += 200;
    if (c.plan.unsubscribe) tracking += 140 + (c.html ? 250 : 0) + (c.text ? 90 : 0);
  }
  const multipart = (c.html !== undefined && c.text !== undefined ? 100 : 0) + (c.attachments.length ? 150 : 0);
  return Math.round(180 + addrs + headers + Buffer.byteLength(c.subject, 'utf8') + qp(c.html) + qp(c.text) + parts + tracking + multipart);
}
