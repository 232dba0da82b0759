import addressparser from 'nodemailer/lib/addressparser';
import { isEmail } from '../auth/user-fields';
import { lazy } from '../lazy';

// At the first encoded header a process decodes (src/lazy.ts): libmime and its charset tables are some 35 files.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by typeof import
const libmime = lazy(() => require('libmime') as typeof import('libmime'));

/** RFC 2047 encoded words decoded (libmime); throws on words it cannot decode. */
export function decodeWords(value: string): string {
  // Every one of libmime's rewrites needs an encoded word ("=?"); without one its five regex passes return the
  // value unchanged, and the From check ran them on every relayed message.
  if (!value.includes('=?')) return value;
  return libmime().decodeWords(value);
}

/**
 * Rules a submitted raw message must meet before Postern signs it and relays it under a customer's domain
 * (docs/smtp-front.md). Pure functions over bytes and header fields, shared by the SMTP front, the
 * emailgateway.smtprelay command and the bounce listener.
 */

export const MAX_LINE_OCTETS = 998;

/**
 * SMTP smuggling (CVE-2023-51764 and relatives): a receiver that ends DATA at `<LF>.<LF>` or `<CR>.<CR>` reads
 * what follows as new commands. smtp-server ends DATA only at `<CR><LF>.<CR><LF>`, but would store the bare
 * sequences and Postern would pass them on. As Postfix (`smtpd_forbid_bare_newline`) and Exim do, a message
 * holding any bare LF or bare CR is refused. Returns the reason, or null.
 */
export function lineEndingProblem(raw: Buffer): string | null {
  for (let i = raw.indexOf(0x0a); i !== -1; i = raw.indexOf(0x0a, i + 1)) {
    if (i === 0 || raw[i - 1] !== 0x0d) return `bare LF (a line feed without a carriage return) at octet ${i}; SMTP lines end with CRLF`;
  }
  return bareCrProblem(raw);
}

/**
 * A CR not followed by LF. The header checks split lines at LF, while the worker's SMTP client ends a line at a
 * bare CR too, so a bare CR would let a second From pass the checks as part of another field's value. Doors that
 * accept LF-only line endings (emailgateway.smtprelay, as upstream) still refuse this.
 */
export function bareCrProblem(raw: Buffer): string | null {
  for (let i = raw.indexOf(0x0d); i !== -1; i = raw.indexOf(0x0d, i + 1)) {
    if (raw[i + 1] !== 0x0a) return `bare CR (a carriage return without a line feed) at octet ${i}; SMTP lines end with CRLF`;
  }
  return null;
}

/** A NUL octet anywhere (RFC 5322 and 8BITMIME forbid it; receivers refuse such a message or strip it), or null. */
export function nulProblem(raw: Buffer): string | null {
  const at = raw.indexOf(0);
  return at === -1 ? null : `a NUL octet at octet ${at}; mail may not hold one`;
}

/**
 * RFC 5322 §2.1.1 caps a line at 998 octets. A longer one is refused, not re-encoded: relays that enforce the
 * limit (Postfix's smtp_line_length_limit) fold it after Postern has signed, breaking DKIM, and re-encoding a
 * client's MIME tree would change bytes it may have signed itself. Every mainstream library already encodes
 * long lines. Lines end at LF (CRLF or, from emailgateway.smtprelay, bare LF).
 */
export function longLineProblem(raw: Buffer): string | null {
  let start = 0;
  let line = 1;
  for (;;) {
    const lf = raw.indexOf(0x0a, start);
    const end = lf === -1 ? raw.length : lf;
    const octets = end - start - (end > start && raw[end - 1] === 0x0d ? 1 : 0);
    if (octets > MAX_LINE_OCTETS)
      return `line ${line} is ${octets} octets long; at most ${MAX_LINE_OCTETS} are allowed (use quoted-printable or base64 for long lines)`;
    if (lf === -1) return null;
    start = lf + 1;
    line += 1;
  }
}

/**
 * Octets the header block may take. Every header check runs synchronously on the SMTP process's one thread
 * (addressparser over To, Cc and From, libmime, the field scans), and a single To folded over 22 MB held it for
 * 9 s, stalling every other session. Postfix's header_size_limit is 102,400 octets; 256 KiB is well above any real
 * header (a long Received chain, a big DKIM and ARC set) and bounds that work (with MAX_FIELD_ADDRESSES, to tens of
 * milliseconds) and DKIM canonicalization's.
 */
export const MAX_HEADER_OCTETS = 256 * 1024;

/**
 * Where the header block ends and the body starts: at the first empty line (`/\r?\n\r?\n/` on the text, found here
 * with Buffer.indexOf over the bytes); no empty line, all header.
 */
export function headerBlock(raw: Buffer): { headEnd: number; bodyStart: number } {
  for (let lf = raw.indexOf(0x0a); lf !== -1; lf = raw.indexOf(0x0a, lf + 1)) {
    const next = raw[lf + 1] === 0x0d ? lf + 2 : lf + 1;
    if (raw[next] !== 0x0a) continue;
    return { headEnd: lf > 0 && raw[lf - 1] === 0x0d ? lf - 1 : lf, bodyStart: next + 1 };
  }
  return { headEnd: raw.length, bodyStart: raw.length };
}

/** A header block over MAX_HEADER_OCTETS, found before anything parses it: the reason, or null. */
export function headerSizeProblem(raw: Buffer): string | null {
  const { headEnd } = headerBlock(raw);
  return headEnd > MAX_HEADER_OCTETS ? `message header is ${headEnd} octets; at most ${MAX_HEADER_OCTETS} are allowed` : null;
}

export interface HeaderProblem {
  /** `from`: the message claims an identity outside the domain; `content`: it is malformed. */
  reason: 'from' | 'content';
  message: string;
}

/**
 * Header fields a message may have. Real mail has tens (a long Received chain, perhaps 100); a hundred thousand
 * copies of one field fit the size limit and cost every step that reads headers (checks, signing, delivery).
 */
export const MAX_HEADER_FIELDS = 1000;

/**
 * Addresses one parsed field (From, Sender, Resent-From, Resent-Sender, To, Cc) may list, counted as its `,` and `;`
 * separators before addressparser sees it: the parser's time grows with the entries (a 256 KiB To of bare commas
 * took 170–370 ms). acceptRaw raises it to SMTP_MAX_RECIPIENTS when that is higher, so a To may name every recipient.
 */
export const MAX_FIELD_ADDRESSES = 1000;
const PARSED = ['from', 'sender', 'resent-from', 'resent-sender', 'to', 'cc'];

/** The `,` and `;` in a value: an upper bound, less one, on the addresses addressparser would find in it. */
export function separators(value: string): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2c || c === 0x3b) n++;
  }
  return n;
}

/** RFC 5322 §3.6: fields that may occur at most once. Two of one let a signer and a reader disagree. */
const SINGLE = ['from', 'sender', 'reply-to', 'to', 'cc', 'bcc', 'subject', 'date', 'message-id', 'in-reply-to', 'references'];
/** Fields naming who wrote or sent the message: every address they mention must be on the sender's domain. */
const IDENTITY = ['from', 'sender', 'resent-from', 'resent-sender'];
const FIELD = /^([!-9;-~]+)[ \t]*:/;

export const nameOf = (field: string) => FIELD.exec(field)?.[1].toLowerCase() ?? '';
export const valueOf = (field: string) =>
  field
    .slice(field.indexOf(':') + 1)
    .replace(/\r?\n(?=[ \t])/g, '')
    .trim();

/**
 * A field value that is one plain address, bare or in angle brackets, after an optional display name of letters,
 * digits and single spaces: what nearly every relayed From and To holds. addressparser reads such a value to the
 * same one address (tests/smtp/address-fast-path.test.ts compares them), but walks it character by character
 * through its tokenizer: about 8 µs a value, twice per relayed message. Anything else (quotes, comments, groups,
 * lists, encoded words, odd spacing) goes to addressparser.
 */
const PLAIN_ADDRESS =
  /^(?:[A-Za-z0-9]+(?: [A-Za-z0-9]+)* <([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+)>|<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+)>|([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+))$/;

/** The one address of a PLAIN_ADDRESS value, or null for a value only addressparser may read. */
export function plainAddress(value: string): string | null {
  const m = PLAIN_ADDRESS.exec(value);
  return m ? (m[1] ?? m[2] ?? m[3]) : null;
}

/** Every address the parser finds in a field value, group members included. */
export function addressesIn(value: string): string[] {
  const plain = plainAddress(value);
  if (plain !== null) return [plain];
  const flat = (list: ReturnType<typeof addressparser>): string[] =>
    list.flatMap((a) => ('group' in a && Array.isArray(a.group) ? flat(a.group) : a.address ? [a.address] : []));
  return flat(addressparser(value));
}

/** An RFC 2047 encoded word in UTF-7 (with an RFC 2231 language tag or not). */
const UTF7_WORD = /=\?utf-7(?:\*[^?]*)?\?/i;

/**
 * What a reader could be shown in a From-like value besides its own addresses: a foreign address in a display name,
 * a comment or an encoded word, or a UTF-7 encoded word. Returns the problem as the end of a sentence, or null.
 * Also serves an API send's From name (src/mail/prepare.ts), which goes out as the display name.
 */
export function shownAddressProblem(value: string, domain: string): string | null {
  const plain = value.normalize('NFKC'); // a look-alike at sign as well as the ASCII one (see mentionedDomains)
  if (!plain.includes('@') && !plain.includes('=?')) return null;
  const foreign = mentionedDomains(value).find((d) => d !== domain);
  if (foreign !== undefined) return `mentions an address on ${JSON.stringify(foreign.slice(0, 100))}: only ${domain} may appear in it`;
  // libmime leaves UTF-7 words undecoded, so the scan above reads `ceo+AEA-bank.com` where a reader that decodes
  // UTF-7 shows ceo@bank.com. No mail software needs UTF-7 in a header (RFC 2152 keeps it out of them).
  if (UTF7_WORD.test(value)) return 'holds a UTF-7 encoded word, which a mail reader may show as any address; encode it as UTF-8';
  return null;
}

/**
 * Domains of everything that looks like an address anywhere in the value: display names, comments, routes, encoded
 * words. A handle such as "Follow @acme" (an `@` that starts a word, before letters, digits and underscores only) is
 * no address to a reader and is not counted; `@acme.example` after a space still is, as is a source route (`<@host:`).
 */
function mentionedDomains(value: string): string[] {
  let text = value;
  try {
    text = decodeWords(value);
  } catch {
    // undecodable words stay as they are and are scanned raw
  }
  // Compatibility forms read as their ASCII twins: `ceo＠bank.com` (U+FF20) or `ceo﹫bank.com` (U+FE6B) is an address
  // to a reader, and was let through when only the ASCII `@` was looked for.
  text = text.normalize('NFKC');
  const domains: string[] = [];
  for (const m of text.matchAll(/@([^\s<>()[\]\\,;:"@]+)/g)) {
    const domain = m[1].toLowerCase().replace(/\.$/, '');
    const before = m.index === 0 ? '' : text[m.index - 1];
    // ASCII only: `@paypal｡com` (U+FF61) reads as an address too.
    if (/^[a-z0-9_]+$/.test(domain) && (before === '' || /[\s"(]/.test(before))) continue;
    domains.push(domain);
  }
  return domains;
}

/**
 * Checks the header fields (unfolded lines as `rewriteHeaders` splits them, Bcc included) of a message sent as
 * `domain`: well-formed field lines, at most one of each RFC 5322 single field, exactly one From, and From,
 * Sender, Resent-From and Resent-Sender naming only addresses on `domain` (a foreign address in a list, a
 * group, a display name or a comment is how spoofed mail passes a From check that reads one address).
 * `parse` is addressesIn, or a caller's memo of it (the caller reads From's address again). `maxAddresses` caps the
 * addresses one parsed field lists.
 */
export function headerProblem(
  fields: string[],
  domain: string,
  parse: (value: string) => string[] = addressesIn,
  maxAddresses = MAX_FIELD_ADDRESSES,
): HeaderProblem | null {
  if (fields.length > MAX_HEADER_FIELDS) {
    return { reason: 'content', message: `message has ${fields.length} header fields; at most ${MAX_HEADER_FIELDS} are allowed` };
  }
  const counts = new Map<string, number>();
  for (const [i, f] of fields.entries()) {
    // eslint-disable-next-line no-control-regex -- a header line must not hold control characters
    if (!FIELD.test(f) || /[\0-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(f))
      return { reason: 'content', message: `header line ${i + 1} is not a valid "Name: value" field` };
    const name = nameOf(f);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (PARSED.includes(name) && separators(f) >= maxAddresses)
      return { reason: 'content', message: `${f.slice(0, f.indexOf(':')).trim()} header lists more than ${maxAddresses} addresses` };
  }
  for (const name of SINGLE) {
    const n = counts.get(name) ?? 0;
    if (n > 1)
      return {
        reason: name === 'from' || name === 'sender' ? 'from' : 'content',
        message: `message has ${n} ${name.replace(/(^|-)[a-z]/g, (c) => c.toUpperCase())} headers; RFC 5322 allows one`,
      };
  }
  if (!counts.get('from')) return { reason: 'from', message: `message has no From header; it must name an address on ${domain}` };
  for (const f of fields) {
    const name = nameOf(f);
    if (!IDENTITY.includes(name)) continue;
    const value = valueOf(f);
    const label = f.slice(0, f.indexOf(':')).trim();
    const addresses = parse(value);
    if (!addresses.length) return { reason: 'from', message: `${label} header names no address; it must name an address on ${domain}` };
    const bad = addresses.find((a) => !isEmail(a) || a.slice(a.lastIndexOf('@') + 1).toLowerCase() !== domain);
    if (bad !== undefined)
      return { reason: 'from', message: `${label} header holds ${JSON.stringify(bad.slice(0, 100))}: every address in it must be on ${domain}` };
    if ((name === 'sender' || name === 'resent-sender') && addresses.length > 1) return { reason: 'from', message: `${label} header must name one address` };
    const shown = shownAddressProblem(value, domain);
    if (shown) return { reason: 'from', message: `${label} header ${shown}` };
  }
  return null;
}
