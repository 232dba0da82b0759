import addressparser from 'nodemailer/lib/addressparser';
import { isEmail } from '../auth/user-fields';
import { truthy } from '../http/params';
import type { Address, Attachment } from './compose';
import { NOT_THE_SENDERS } from './verdict-headers';

/** Caps documented in the README ("Sending"). */
export const LIMITS = {
  to: 50,
  cc: 50,
  bcc: 50,
  replyTo: 10,
  tags: 20,
  tagLength: 100,
  metadataKeys: 50,
  metadataKeyLength: 100,
  metadataValueLength: 1000,
  metadataBytes: 10_000,
  headers: 50,
  /** Each is its own MIME part, composed at every delivery: 200,000 tiny ones took 13 s of a worker's event loop. */
  attachments: 100,
  sendAtMaxDays: 30,
};

/** Headers Postern writes itself; a request may not set them. */
const OWNED_HEADERS = new Set([
  'from',
  'to',
  'cc',
  'bcc',
  'reply-to',
  'subject',
  'message-id',
  'date',
  'sender',
  // Identity fields the SMTP front checks against the domain (src/smtp/message-rules.ts): not settable here at all.
  'resent-from',
  'resent-sender',
  'return-path',
  'dkim-signature',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-disposition',
  'received',
  ...NOT_THE_SENDERS,
]);
/**
 * A client's own unsubscribe (RFC 2369, 8058): one or more <https:…>, <http:…> or <mailto:…> URIs. Sent as given when
 * Postern adds none; when the domain's UnsubscribeLink makes Postern add its own, Postern's replaces it (one
 * List-Unsubscribe, whose one-click POST Postern answers).
 */
const LIST_UNSUBSCRIBE_URI = /<(?:https?:\/\/|mailto:)[^<>\s]+>/i;
const ONE_CLICK = 'List-Unsubscribe=One-Click';

/** Why a client's List-Unsubscribe or List-Unsubscribe-Post value is refused, or null. */
function unsubscribeProblem(name: string, value: string, all: Record<string, unknown>): string | null {
  if (name === 'list-unsubscribe') {
    const rest = value.replace(new RegExp(LIST_UNSUBSCRIBE_URI.source, 'gi'), '').replace(/[\s,]/g, '');
    return rest === '' && LIST_UNSUBSCRIBE_URI.test(value) ? null : 'must be one or more <https:…> or <mailto:…> URIs, comma-separated';
  }
  if (value.trim() !== ONE_CLICK) return `must be "${ONE_CLICK}" (RFC 8058)`;
  // One-click needs an https URI to POST to (RFC 8058 §3.1).
  const list = Object.entries(all).find(([k]) => k.toLowerCase() === 'list-unsubscribe')?.[1];
  return typeof list === 'string' && /<https:\/\//i.test(list) ? null : 'needs a List-Unsubscribe header with an <https:…> URI';
}
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,76}$/;

export interface SendRequest {
  subject: string;
  html?: string;
  text?: string;
  from: Address;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  replyTo: Address[];
  tags: string[];
  /** The caller's key-value pairs (CyberPanel metadata, CloudMails custom_args): stored with the message, shown by lookups and webhooks. */
  metadata: Record<string, string | number | boolean | null>;
  headers: Record<string, string>;
  attachments: Attachment[];
  attachmentBytes: number;
  trackLinks?: boolean;
  trackOpens?: boolean;
  /** Epoch ms, or undefined for now. */
  sendAt?: number;
  templateId?: number;
  targetListId?: number;
  listId?: number;
  subscriberId?: number;
  journeyId?: number;
  actionId?: number;
}

export interface Problem {
  code: number;
  message: string;
}

type Raw = Record<string, unknown>;

function addresses(
  v: unknown,
  field: string,
  codes: { missing: number; invalid: number; tooMany: number; notArray?: number },
  cap: number,
  out: Problem[],
): Address[] {
  if (v === undefined || v === null || v === '') return [];
  if (!Array.isArray(v)) {
    out.push({ code: codes.notArray ?? codes.missing, message: `${field} must be an array of {name, email}` });
    return [];
  }
  if (v.length > cap) {
    // Nothing past the cap is read: checking and naming each of 7 million entries took 13 s and answered 335 MB.
    out.push({ code: codes.tooMany, message: `${field} has ${v.length} recipients; at most ${cap} are allowed` });
    return [];
  }
  const list: Address[] = [];
  for (const [i, item] of v.entries()) {
    const o = (typeof item === 'string' ? { email: item } : item) as Raw;
    const email = typeof o?.email === 'string' ? o.email.trim() : '';
    const name = typeof o?.name === 'string' ? o.name.trim() : '';
    if (!email) {
      out.push({ code: codes.missing, message: `${field}[${i}] has no email address` });
      continue;
    }
    if (!isEmail(email) || /[\r\n]/.test(name) || name.length > 200) {
      out.push({ code: codes.invalid, message: `${field}[${i}] email address "${email.slice(0, 100)}" is invalid` });
      continue;
    }
    list.push({ name, email });
  }
  return list;
}

function optionalId(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'number' && typeof v !== 'string') return -1;
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : -1;
}

function attachments(v: unknown, maxBytes: number, out: Problem[]): { list: Attachment[]; bytes: number } {
  if (v === undefined || v === null) return { list: [], bytes: 0 };
  if (!Array.isArray(v)) {
    out.push({ code: 42, message: 'Attachments must be an array of {filename, content, type, disposition, contentid}' });
    return { list: [], bytes: 0 };
  }
  if (v.length > LIMITS.attachments) {
    out.push({ code: 42, message: `Attachments may hold at most ${LIMITS.attachments} files (got ${v.length})` });
    return { list: [], bytes: 0 };
  }
  const list: Attachment[] = [];
  let bytes = 0;
  for (const [i, item] of v.entries()) {
    const a = (item ?? {}) as Raw;
    const filename = typeof a.filename === 'string' ? a.filename.trim() : '';
    const content = typeof a.content === 'string' ? a.content.replace(/\s+/g, '') : '';
    const disposition = a.disposition === undefined || a.disposition === '' ? 'attachment' : String(a.disposition).toLowerCase();
    const contentId = typeof a.contentid === 'string' && a.contentid.trim() ? a.contentid.trim().replace(/^<|>$/g, '') : undefined;
    const type = typeof a.type === 'string' && a.type.trim() ? a.type.trim() : undefined;
    if (!filename || /[\r\n\0/\\]/.test(filename) || filename.length > 255) {
      out.push({ code: 42, message: `Attachments[${i}] needs a filename without path separators or line breaks` });
      continue;
    }
    if (!content || content.length % 4 === 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(content)) {
      out.push({ code: 42, message: `Attachments[${i}] content is not valid base64` });
      continue;
    }
    if (disposition !== 'attachment' && disposition !== 'inline') {
      out.push({ code: 42, message: `Attachments[${i}] disposition must be attachment or inline` });
      continue;
    }
    if (disposition === 'inline' && !contentId) {
      out.push({ code: 42, message: `Attachments[${i}] is inline and needs a contentid to be referenced as cid:` });
      continue;
    }
    if ((contentId && !/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]{1,200}$/.test(contentId)) || (type && !/^[\w.+-]+\/[\w.+-]+$/.test(type))) {
      out.push({ code: 42, message: `Attachments[${i}] has an invalid contentid or type` });
      continue;
    }
    const buf = Buffer.from(content, 'base64');
    bytes += buf.length;
    list.push({ filename, content: buf, contentType: type, disposition, contentId });
  }
  if (bytes > maxBytes) out.push({ code: 42, message: `Attachments total ${bytes} bytes; at most ${maxBytes} are allowed` });
  return { list, bytes };
}

/** `[]` where a map is expected is an empty map: PHP's json_encode writes an empty map so, and the clients are PHP. */
const isEmptyArray = (v: unknown) => Array.isArray(v) && v.length === 0;

function headers(v: unknown, out: Problem[]): Record<string, string> {
  if (v === undefined || v === null || isEmptyArray(v)) return {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    out.push({ code: 41, message: 'Headers must be an object of name: value' });
    return {};
  }
  const result: Record<string, string> = {};
  const entries = Object.entries(v as Raw);
  if (entries.length > LIMITS.headers) out.push({ code: 41, message: `Headers may hold at most ${LIMITS.headers} entries` });
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) {
      out.push({ code: 41, message: `Header name "${name.slice(0, 80).replace(/[\r\n]/g, ' ')}" is not a valid header name` });
      continue;
    }
    if (OWNED_HEADERS.has(name.toLowerCase())) {
      out.push({ code: 41, message: `Header "${name}" is set by Postern and cannot be overridden` });
      continue;
    }
    const s = typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
    // 997: an unbroken value is folded onto a line of its own after one space, which must stay within 998 octets.
    if (typeof s !== 'string' || /[\r\n\0]/.test(s) || s.length > 997) {
      out.push({ code: 41, message: `Header "${name}" must be a single-line string of at most 997 characters` });
      continue;
    }
    const lower = name.toLowerCase();
    if (lower === 'list-unsubscribe' || lower === 'list-unsubscribe-post') {
      const why = unsubscribeProblem(lower, s, v as Raw);
      if (why) {
        out.push({ code: 41, message: `Header "${name}" ${why}` });
        continue;
      }
    }
    // Keys arrive lowercased (the door lowercases every key); write them in the conventional capitalised form.
    result[name.replace(/(^|-)([a-z])/g, (_m, d, c) => d + c.toUpperCase())] = s;
  }
  return result;
}

const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Why `v` is not metadata within the LIMITS (the message the send path would give), or null when it is. */
export function metadataProblem(v: unknown): string | null {
  const out: Problem[] = [];
  metadata(v, out);
  return out[0]?.message ?? null;
}

/** Flat key-value pairs with scalar values, within the LIMITS; keys keep their case where the door kept it. */
function metadata(v: unknown, out: Problem[]): Record<string, string | number | boolean | null> {
  if (v === undefined || v === null || isEmptyArray(v)) return {};
  const bad = (why: string) => {
    out.push({ code: 47, message: `Metadata ${why}` });
    return {};
  };
  if (typeof v !== 'object' || Array.isArray(v)) return bad('must be an object of key: value pairs');
  const entries = Object.entries(v as Raw);
  if (entries.length > LIMITS.metadataKeys) return bad(`may hold at most ${LIMITS.metadataKeys} keys`);
  for (const [k, val] of entries) {
    if (!k || k.length > LIMITS.metadataKeyLength || RESERVED_KEYS.has(k))
      return bad(`key "${k.slice(0, 40)}" must be 1-${LIMITS.metadataKeyLength} characters and not a reserved name`);
    const scalar = val === null || typeof val === 'number' || typeof val === 'boolean' || (typeof val === 'string' && val.length <= LIMITS.metadataValueLength);
    if (!scalar || (typeof val === 'number' && !Number.isFinite(val)))
      return bad(`value of "${k.slice(0, 40)}" must be a string of at most ${LIMITS.metadataValueLength} characters, a number, true, false or null`);
  }
  const result = Object.fromEntries(entries) as Record<string, string | number | boolean | null>;
  if (Buffer.byteLength(JSON.stringify(result)) > LIMITS.metadataBytes) return bad(`is larger than ${LIMITS.metadataBytes} bytes as JSON`);
  return result;
}

function flag(v: unknown, field: string, out: Problem[]): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  if (['true', '1', 'yes', 'on', 'false', '0', 'no', 'off'].includes(s)) return truthy(s);
  out.push({ code: 44, message: `${field} must be "true" or "false"` });
  return undefined;
}

/**
 * Reads one /api/v1/email request (keys already lowercased) into a SendRequest, collecting every
 * problem with the contract's code and a specific message. Business checks (key, domain, limits,
 * suppression) come after this, in the send service.
 */
/**
 * A Reply-To given in Headers (a common way to set it) is the ReplyTo parameter when that is not given, checked as
 * ReplyTo is (codes 28-31): refusing the whole send (41, Postern writes Reply-To itself) broke clients that set it
 * so. Given both ways, or as a value that is not one line, it stays in Headers and is refused there (41).
 */
function replyToFromHeaders(p: Raw): Raw {
  const h = p.headers;
  if (!h || typeof h !== 'object' || Array.isArray(h)) return p;
  const key = Object.keys(h).find((k) => k.toLowerCase() === 'reply-to');
  if (key === undefined) return p;
  const given = p.replyto;
  if (given !== undefined && given !== null && given !== '' && !(Array.isArray(given) && !given.length)) return p;
  const value = (h as Raw)[key];
  if (typeof value !== 'string' || /[\r\n\0]/.test(value) || value.length > 997) return p;
  const rest = Object.fromEntries(Object.entries(h as Raw).filter(([k]) => k !== key));
  const replyto = addressparser(value, { flatten: true }).map((a) => ({ name: a.name ?? '', email: a.address ?? '' }));
  return { ...p, headers: rest, replyto: replyto.length ? replyto : [{ name: '', email: value.trim() }] };
}

export function parseSendRequest(raw: Raw, opts: { maxAttachmentBytes: number; now: number }): { req: SendRequest; problems: Problem[] } {
  const p = replyToFromHeaders(raw);
  const out: Problem[] = [];
  // With a TemplateID the template supplies Subject and content; request fields override it.
  const templated = p.templateid !== undefined && p.templateid !== null && p.templateid !== '';
  const subject = typeof p.subject === 'string' ? p.subject : '';
  if (!subject.trim()) {
    if (!templated) out.push({ code: 8, message: 'Missing Subject' });
  } else if (/[\r\n]/.test(subject) || subject.length > 997) out.push({ code: 8, message: 'Subject must be one line of at most 997 characters' });

  const ct = typeof p.contenttype === 'string' ? p.contenttype.trim().toLowerCase() : '';
  if (!ct) {
    if (!templated) out.push({ code: 9, message: 'Missing ContentType' });
  } else if (ct !== 'html' && ct !== 'plain') out.push({ code: 9, message: 'ContentType must be html or plain' });
  const html = typeof p.htmlcontent === 'string' && p.htmlcontent !== '' ? p.htmlcontent : undefined;
  const text = typeof p.plaincontent === 'string' && p.plaincontent !== '' ? p.plaincontent : undefined;
  if (ct === 'html' && !html && !templated) out.push({ code: 10, message: 'Missing HTMLContent' });
  if (ct === 'plain' && !text && !templated) out.push({ code: 11, message: 'Missing PlainContent' });

  let from: Address = { name: '', email: '' };
  const f = p.from as Raw | undefined;
  if (!f || typeof f !== 'object' || Array.isArray(f) || typeof f.email !== 'string' || !f.email.trim()) {
    out.push({ code: 3, message: 'From parameter is missing or invalid: send {"name": "...", "email": "..."}' });
  } else if (!isEmail(f.email.trim()) || (f.name !== undefined && (typeof f.name !== 'string' || /[\r\n]/.test(f.name)))) {
    out.push({ code: 23, message: `Invalid from email address format: "${String(f.email).slice(0, 100)}"` });
  } else if (typeof f.name === 'string' && f.name.trim().length > 200) {
    // As every other name: an unbroken one cannot be folded, and a From line past 998 octets breaks DKIM at a relay.
    out.push({ code: 23, message: 'From name must be at most 200 characters' });
  } else from = { name: typeof f.name === 'string' ? f.name.trim() : '', email: f.email.trim() };

  const targetListId = optionalId(p.targetlistid);
  const to = addresses(p.to, 'To', { missing: 18, invalid: 19, tooMany: 20 }, LIMITS.to, out);
  if (!to.length && targetListId === undefined && !out.some((e) => e.code === 18 || e.code === 19 || e.code === 20)) {
    out.push({ code: 20, message: 'There is no recipient set: To needs at least one {name, email}' });
  }
  const cc = addresses(p.cc, 'CC', { missing: 21, invalid: 22, tooMany: 22 }, LIMITS.cc, out);
  const bcc = addresses(p.bcc, 'BCC', { notArray: 24, missing: 25, invalid: 26, tooMany: 27 }, LIMITS.bcc, out);
  const replyTo = addresses(p.replyto, 'ReplyTo', { notArray: 28, missing: 29, invalid: 30, tooMany: 31 }, LIMITS.replyTo, out);

  let tags: string[] = [];
  if (p.tags !== undefined && p.tags !== null) {
    if (!Array.isArray(p.tags) || p.tags.length > LIMITS.tags || p.tags.some((t) => typeof t !== 'string' || !t.trim() || t.length > LIMITS.tagLength)) {
      out.push({ code: 40, message: `Tags must be an array of at most ${LIMITS.tags} non-empty strings of at most ${LIMITS.tagLength} characters` });
    } else tags = [...new Set((p.tags as string[]).map((t) => t.trim()))];
  }

  const meta = metadata(p.metadata, out);
  const hdrs = headers(p.headers, out);
  const att = attachments(p.attachments, opts.maxAttachmentBytes, out);

  let sendAt: number | undefined;
  if (p.sendat !== undefined && p.sendat !== null && p.sendat !== '' && Number(p.sendat) !== 0) {
    const s = Number(p.sendat);
    const maxMs = opts.now + LIMITS.sendAtMaxDays * 86400_000;
    if (!Number.isSafeInteger(s) || s < 0 || s * 1000 > maxMs) {
      out.push({ code: 43, message: `SendAt must be a Unix time (seconds) no more than ${LIMITS.sendAtMaxDays} days ahead` });
    } else if (s * 1000 > opts.now) sendAt = s * 1000;
  }

  const ids: Record<string, [number, string]> = {
    templateid: [15, 'Invalid TemplateID'],
    targetlistid: [16, 'Invalid TargetListID'],
    listid: [35, 'Invalid ListID'],
    subscriberid: [36, 'Invalid SubscriberID'],
    journeyid: [37, 'Invalid JourneyID'],
    actionid: [38, 'Invalid ActionID'],
  };
  const idValues: Record<string, number | undefined> = {};
  for (const [key, [code, message]] of Object.entries(ids)) {
    const v = optionalId(p[key]);
    if (v === -1) out.push({ code, message });
    idValues[key] = v === -1 ? undefined : v;
  }

  return {
    req: {
      subject,
      html: ct === 'plain' ? undefined : html,
      text,
      from,
      to,
      cc,
      bcc,
      replyTo,
      tags,
      metadata: meta,
      headers: hdrs,
      attachments: att.list,
      attachmentBytes: att.bytes,
      trackLinks: flag(p.tracklinks, 'TrackLinks', out),
      trackOpens: flag(p.trackopens, 'TrackOpens', out),
      sendAt,
      templateId: idValues.templateid,
      targetListId: idValues.targetlistid,
      listId: idValues.listid,
      subscriberId: idValues.subscriberid,
      journeyId: idValues.journeyid,
      actionId: idValues.actionid,
    },
    problems: out,
  };
}

/** A request built by Postern itself (test sends, campaigns) rather than read from a client: no caps to check. */
export function builtRequest(r: Pick<SendRequest, 'subject' | 'from'> & Partial<SendRequest>): SendRequest {
  return { to: [], cc: [], bcc: [], replyTo: [], tags: [], headers: {}, attachments: [], attachmentBytes: 0, ...r, metadata: r.metadata ?? {} };
}
