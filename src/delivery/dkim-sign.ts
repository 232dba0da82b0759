import crypto, { KeyObject } from 'node:crypto';
import { domainToASCII } from 'node:url';
import type { DkimKeyCache } from './dkim-keys';

/**
 * DKIM signing (RFC 6376, rsa-sha256, relaxed/relaxed) with an explicit, over-signed header list.
 *
 * Hand-written because neither signer at hand can over-sign: nodemailer's keeps its header list in a Set and
 * signs only headers that are present, mailauth's signs only the instances present. Over-signing means listing
 * a header once more than it occurs, so that a copy added after signing (a second From above ours, a Subject
 * below it) is looked up where the signature promised nothing, and verification fails. The canonicalization
 * is the two short rules of RFC 6376 §3.4.2 and §3.4.4; tests check every output with mailauth's verifier.
 *
 * Signing is split in two so that the RSA operation (the only costly step) can run on a worker thread:
 * `planSignature` canonicalizes and hashes on the caller's thread, `rsaSign` signs the plan's bytes, and
 * `signedMessage` puts the header in front. Both DkimPool and `dkimSign` use exactly these three steps.
 */

export interface DkimKey {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

/**
 * Signed when present (each instance). List-Unsubscribe and List-Unsubscribe-Post are required by RFC 8058 §4
 * for one-click unsubscribe (Gmail and Yahoo offer it only when both are signed).
 */
export const SIGNED_HEADERS = [
  'from',
  'sender',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'to',
  'cc',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-id',
  'content-description',
  'resent-date',
  'resent-from',
  'resent-sender',
  'resent-to',
  'resent-cc',
  'resent-message-id',
  'in-reply-to',
  'references',
  'list-id',
  'list-help',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-subscribe',
  'list-post',
  'list-owner',
  'list-archive',
  'feedback-id',
] as const;

/**
 * Listed once more than they occur (also when absent), so none can be added after signing. From, Subject, To
 * and Date as issue 13 asks; Sender, Reply-To and Cc too, as rspamd's default over-signs them (an added
 * Reply-To or Cc redirects replies as surely as a second From); and both List-Unsubscribe headers, so nobody
 * can put their own one-click unsubscribe target above ours under our signature.
 */
export const OVERSIGNED: ReadonlySet<string> = new Set([
  'from',
  'subject',
  'to',
  'date',
  'sender',
  'reply-to',
  'cc',
  'list-unsubscribe',
  'list-unsubscribe-post',
]);

interface HeaderField {
  key: string;
  /** The raw value after the colon; canonicalized only if the field is signed (each instance is signed at most once). */
  value: string;
}

export interface DkimPlan {
  /** The DKIM-Signature header up to and including ` b=` (folded, CRLFs inside). */
  header: string;
  /** What RSA signs: the selected header fields and this header, canonicalized. */
  data: Buffer;
}

/**
 * Relaxed header value (RFC 6376 §3.4.2): unfold, runs of WSP to one SP, none at either end. Most values are one
 * line with single spaces (` Bench <bench@example.com>`): those only lose their leading and trailing space, found
 * by one scan instead of three regular-expression passes (a third of planSignature's time in bench:dkim-style runs).
 */
function relaxedValue(v: string): string {
  let simple = true;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x0a || c === 0x0d || c === 0x09 || (c === 0x20 && v.charCodeAt(i + 1) === 0x20)) {
      simple = false;
      break;
    }
  }
  if (!simple)
    return v
      .replace(/\r?\n/g, '')
      .replace(/[ \t]+/g, ' ')
      .replace(/^ | $/g, '');
  const start = v.charCodeAt(0) === 0x20 ? 1 : 0;
  const end = v.length > start && v.charCodeAt(v.length - 1) === 0x20 ? v.length - 1 : v.length;
  return start === 0 && end === v.length ? v : v.slice(start, end);
}
/** Tag values come from our own domain rows; still, nothing in them may close a tag or a header line. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must go
const tagValue = (v: string) => v.replace(/[\x00-\x20\x7f;=]/g, '');

/** Splits raw MIME into its header block and its body (a message without a blank line is all header). */
function split(raw: Buffer): { head: string; body: Buffer } {
  const crlf = raw.indexOf('\r\n\r\n');
  // Only a blank LF line above the first CRLF one matters: no need to scan a CRLF message's whole body for it.
  const lf = crlf >= 0 ? raw.subarray(0, crlf).indexOf('\n\n') : raw.indexOf('\n\n');
  if (raw[0] === 0x0a || (raw[0] === 0x0d && raw[1] === 0x0a)) return { head: '', body: raw.subarray(raw[0] === 0x0a ? 1 : 2) };
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { head: raw.toString('latin1', 0, crlf), body: raw.subarray(crlf + 4) };
  if (lf >= 0) return { head: raw.toString('latin1', 0, lf), body: raw.subarray(lf + 2) };
  return { head: raw.toString('latin1'), body: Buffer.alloc(0) };
}

function headerFields(head: string): HeaderField[] {
  const fields: HeaderField[] = [];
  let current = '';
  const push = () => {
    const colon = current.indexOf(':');
    if (colon > 0) fields.push({ key: current.slice(0, colon).trim().toLowerCase(), value: current.slice(colon + 1) });
  };
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && current) current += `\r\n${line}`;
    else {
      push();
      current = line;
    }
  }
  push();
  return fields;
}

/**
 * Relaxed body canonicalization (RFC 6376 §3.4.4): runs of WSP become one SP, WSP at line ends and empty lines
 * at the end go, a non-empty body ends with CRLF; a bare LF or CR counts as the CRLF the SMTP client sends. One pass
 * over the bytes: a few times faster than the same rules as regular expressions over a string.
 */
export function relaxedBody(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(body.length * 2 + 2);
  let w = 0;
  let end = 0; // length of the canonical body up to the last line that had content
  let space = false;
  let content = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 0x20 || c === 0x09) {
      space = true;
    } else if (c === 0x0a || c === 0x0d) {
      // A bare CR ends a line too: the SMTP client sends it as CRLF (src/delivery/smtp-data.ts), and the receiver
      // hashes what arrives.
      if (c === 0x0d && body[i + 1] === 0x0a) i++;
      out[w++] = 0x0d;
      out[w++] = 0x0a;
      if (content) end = w;
      space = content = false;
    } else {
      if (space) out[w++] = 0x20;
      out[w++] = c;
      space = false;
      content = true;
    }
  }
  if (content) {
    out[w++] = 0x0d;
    out[w++] = 0x0a;
    end = w;
  }
  return out.subarray(0, end);
}

/** Folds `parts` (each carrying its own separator) into lines of at most ~76 characters. */
function fold(parts: string[]): string {
  let out = '';
  let line = '';
  for (const p of parts) {
    if (line && line.length + p.length > 76) {
      out += `${line}\r\n`;
      line = p.startsWith(' ') ? p : ` ${p}`;
    } else line += p;
  }
  return out + line;
}

/** Canonicalizes and hashes `raw`: everything of a signature except the RSA operation. */
export function planSignature(raw: Buffer, key: Pick<DkimKey, 'domainName' | 'keySelector'>): DkimPlan {
  const { head, body } = split(raw);
  const fields = headerFields(head);
  // Each name's fields from the bottom up, found in one pass: scanning back for the i-th copy of a name at each
  // listing was quadratic, and a message with 100,000 copies of one signed field held the thread for minutes.
  const bottomUp = new Map<string, HeaderField[]>();
  for (let i = fields.length - 1; i >= 0; i--) {
    const list = bottomUp.get(fields[i].key);
    if (list) list.push(fields[i]);
    else bottomUp.set(fields[i].key, [fields[i]]);
  }
  const names: string[] = [];
  for (const name of SIGNED_HEADERS) {
    const n = (bottomUp.get(name)?.length ?? 0) + (OVERSIGNED.has(name) ? 1 : 0);
    for (let i = 0; i < n; i++) names.push(name);
  }
  // RFC 6376 §5.4.2: the i-th listing of a name signs its i-th instance counted from the bottom; a listing past
  // the last instance signs nothing (that is what makes an added copy fail).
  const taken = new Map<string, number>();
  let data = '';
  for (const name of names) {
    const skip = taken.get(name) ?? 0;
    taken.set(name, skip + 1);
    const field = bottomUp.get(name)?.[skip];
    if (field) data += `${name}:${relaxedValue(field.value)}\r\n`;
  }
  const bh = crypto.createHash('sha256').update(relaxedBody(body)).digest('base64');
  const parts = [
    'DKIM-Signature: v=1;',
    ' a=rsa-sha256;',
    ' c=relaxed/relaxed;',
    ` d=${tagValue(domainToASCII(key.domainName) || key.domainName)};`,
    ' q=dns/txt;',
    ` s=${tagValue(key.keySelector)};`,
    ` bh=${bh};`,
    ...names.map((n, i) => (i === 0 ? ` h=${n}` : `:${n}`)),
  ];
  const header = `${fold(parts)};\r\n b=`;
  data += `dkim-signature:${relaxedValue(header.slice(header.indexOf(':') + 1))}`;
  return { header, data: Buffer.from(data, 'latin1') };
}

/** The RSA-SHA256 signature of a plan's bytes, base64; throws when the key cannot sign. The same bytes for a PEM and its parsed KeyObject. */
export function rsaSign(data: Buffer, privateKey: string | KeyObject): string {
  return crypto.sign('sha256', data, privateKey).toString('base64');
}

/** The message with its DKIM-Signature header in front. */
export function signedMessage(plan: DkimPlan, signature: string, raw: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${plan.header}${foldSignature(signature)}\r\n`, 'latin1'), raw]);
}

/**
 * b= folded as nodemailer folds it (73 characters on the first line, 75 on each after): slices, not the regular
 * expression nodemailer uses, which cost as much as the rest of signedMessage. Base64 holds no line breaks.
 */
export function foldSignature(signature: string): string {
  if (signature.length <= 73) return signature;
  let out = signature.slice(0, 73);
  for (let i = 73; i < signature.length; i += 75) out += `\r\n ${signature.slice(i, i + 75)}`;
  return out;
}

export function signingError(key: Pick<DkimKey, 'domainName' | 'keySelector'>): Error {
  return new Error(`the DKIM key of ${key.domainName} (selector ${key.keySelector}) could not sign the message; check the domain's private key`);
}

/**
 * Signs in this thread; rejects when the key cannot sign (never gives the message back unsigned). With `keys`
 * the key is parsed once per domain and selector (see dkim-keys.ts); without, from the PEM on every call.
 */
export async function dkimSign(raw: Buffer, key: DkimKey, keys?: DkimKeyCache): Promise<Buffer> {
  const plan = planSignature(raw, key);
  let signature: string;
  try {
    signature = rsaSign(plan.data, keys ? keys.get(key).keyObject() : key.privateKey);
  } catch {
    throw signingError(key);
  }
  return signedMessage(plan, signature, raw);
}
