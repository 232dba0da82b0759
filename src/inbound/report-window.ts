/**
 * What of a message the report parser (postal-mime, src/inbound/report.ts) is handed, read first by a cheap line scan.
 * The intake takes mail from anyone, and postal-mime's cost grows with what a sender chooses: a 250 KiB address list
 * in To cost 300 ms, a thousand tiny parts 150 ms, RFC 2231 continuations or encoded words in part headers 50-100 ms,
 * all on the event loop the relay front shares. A report's machine-readable parts need none of that, so the parser
 * sees the message's first REPORT_PARSE_BYTES / REPORT_PARSE_LINES with every header block rewritten to the two
 * fields it reads (Content-Type, Content-Transfer-Encoding; MIME-Version at the top), and not at all when a header
 * field or the number of parts is beyond any real report's.
 */

/**
 * At most this much of a message is parsed as a report. Its machine-readable parts come first (RFC 6522: the human
 * text, the delivery-status or feedback-report part, then the original message or its headers), and postal-mime is
 * slow on long bodies of short lines: 4 MiB of them held the event loop 20 s and took 1.7 GB.
 */
export const REPORT_PARSE_BYTES = 256 * 1024;
/**
 * And at most this many lines: postal-mime's cost is per line (some 12 µs each here), so 256 KiB of empty lines took
 * 3 s of CPU. A report's machine-readable parts are a few dozen lines.
 */
export const REPORT_PARSE_LINES = 4096;
/** The longest header field (unfolded) of a report's own header blocks: theirs are short, the parser's cost grows with them. */
export const MAX_HEADER_FIELD_BYTES = 8 * 1024;
/**
 * The most boundary lines (each opens or closes a part) the parser is handed. A DSN or ARF has 2 to 4 parts, an
 * Exchange or Gmail one a nested alternative besides (7 lines); the quoted original's own parts are not split.
 */
export const MAX_BOUNDARY_LINES = 16;

/** How many bytes of `raw` a report is read from: at most REPORT_PARSE_BYTES and REPORT_PARSE_LINES. */
function windowEnd(raw: Buffer): number {
  const limit = Math.min(raw.length, REPORT_PARSE_BYTES);
  let at = -1;
  for (let lines = 0; lines < REPORT_PARSE_LINES; lines++) {
    at = raw.indexOf(0x0a, at + 1);
    if (at < 0 || at >= limit) return limit;
  }
  return at + 1;
}

/**
 * The lines of `raw` up to `end`, as byte offsets: `start`, `next` (after its LF) and `cut` (before its trailing CRs
 * and LF: the line as postal-mime reads it). Offsets, not strings: only header lines are ever turned into text.
 */
function* lines(raw: Buffer, end: number): Generator<{ start: number; cut: number; next: number }> {
  for (let start = 0; start < end;) {
    const nl = raw.indexOf(0x0a, start);
    const next = nl < 0 || nl >= end ? end : nl + 1;
    let cut = next;
    while (cut > start && (raw[cut - 1] === 0x0a || raw[cut - 1] === 0x0d)) cut--;
    yield { start, cut, next };
    start = next;
  }
}

const TOO_LONG = `a header field of over ${MAX_HEADER_FIELD_BYTES} bytes (a report's are short)`;

/** A boundary as RFC 2046 allows it (bchars, 1-70, no final space): the scan writes it back quoted for the parser. */
const BOUNDARY = /^[0-9a-z'()+_,\-./:=? ]{0,69}[0-9a-z'()+_,\-./:=?]$/i;

/** A Content-Type as the parser is handed it: its type and, for a multipart, its boundary; `bad` when it cannot be read so. */
function contentType(value: string): { type: string; boundary?: string } | { bad: string } {
  const m = /^[ \t]*([^\s;(]*)/.exec(value)!;
  const type = m[1].toLowerCase();
  if (!type.startsWith('multipart/')) return { type };
  // The boundary parameter as mail software writes it: a comment, an escape or RFC 2231 form around it is no report's.
  // (Repeats are bounded so that unclosed quotes cost no rescans; a boundary has at most 70 characters.)
  const params = value.slice(m[0].length);
  const unquoted = params.replace(/"[^"]{0,200}"/g, '""');
  if (/boundary\s*\*|[(\\]/i.test(unquoted)) return { bad: 'a multipart Content-Type with a comment, an escape or an RFC 2231 parameter' };
  const b = /;\s*boundary\s*=\s*(?:"([^"]{0,80})"|([^\s;"]{1,80}))/i.exec(params);
  const boundary = b?.[1] ?? b?.[2];
  if (boundary === undefined) return { type };
  if (!BOUNDARY.test(boundary)) return { bad: 'a MIME boundary RFC 2046 does not allow' };
  return { type, boundary };
}

/** The content transfer encoding's token (`base64`, `quoted-printable`, …), as mail software writes it. */
const transferEncoding = (value: string) => (/^[ \t]*([\w-]+)/.exec(value)?.[1] ?? '').toLowerCase();

/** Without leading and trailing SP/HT (a regex for it is quadratic on a long run of blanks). */
function trimWsp(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s[start] === ' ' || s[start] === '\t')) start++;
  while (end > start && (s[end - 1] === ' ' || s[end - 1] === '\t')) end--;
  return s.slice(start, end);
}

/** One header block: its fields, unfolded, as `name: value` (name lowercase, as postal-mime keys them). */
class Block {
  fields: { name: string; value: string }[] = [];
  private current = '';
  /** Adds a header line (bytes `start` to `cut` of `raw`); why the block is refused, or null. */
  add(raw: Buffer, start: number, cut: number): string | null {
    // Read no further than the limit: a longer line is refused, but its start still tells the top-level type.
    const line = raw.toString('latin1', start, Math.min(cut, start + MAX_HEADER_FIELD_BYTES + 1));
    if ((line[0] === ' ' || line[0] === '\t') && this.current) this.current += line;
    else {
      this.close();
      this.current = line;
    }
    return this.current.length > MAX_HEADER_FIELD_BYTES ? TOO_LONG : null;
  }
  close() {
    if (!this.current) return;
    const sep = this.current.indexOf(':');
    const name = trimWsp(sep < 0 ? this.current : this.current.slice(0, sep)).toLowerCase();
    this.fields.push({ name, value: sep < 0 ? '' : this.current.slice(sep + 1).replace(/[\r\n]+/g, ' ') });
    this.current = '';
  }
  /** The first field of this name (postal-mime reads the first of each content header). */
  first(name: string): string | undefined {
    this.close();
    return this.fields.find((f) => f.name === name)?.value;
  }
}

/** The top-level Content-Type (first field, unfolded) of `raw`, read as the scan and the parser read it. */
export function topContentType(raw: Buffer): string {
  const block = new Block();
  for (const { start, cut } of lines(raw, windowEnd(raw))) {
    if (cut === start || block.add(raw, start, cut)) break;
  }
  return block.first('content-type') ?? '';
}

/** Whether a top-level Content-Type is a report's, and its report-type (lowercase). */
export function reportType(ct: string): string | null {
  if (!/^\s*multipart\/report\b/i.test(ct)) return null;
  return (/report-type\s*=\s*"?([a-z-]+)/i.exec(ct)?.[1] ?? '').toLowerCase();
}

export interface ReportWindow {
  /** What postal-mime parses: the window, every header block reduced to the fields it reads. */
  input: Buffer;
  /** The window as text (latin1), and each base64 or quoted-printable part's body decoded: where a VERP address may be. */
  texts: () => string[];
}

function decode(encoding: string, body: string): string {
  if (encoding === 'base64') return Buffer.from(body, 'base64').toString('latin1');
  return body.replace(/=\r?\n/g, '').replace(/=([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The scan's state: what the parser will be handed, the enclosing multiparts' boundaries, the leaf part being read. */
class Scan {
  boundaries: Buffer[] = [];
  boundaryLines = 0;
  /** The header block being read, null in a body. */
  block: Block | null = new Block();
  decoded: string[] = [];
  private out: Buffer[] = [];
  /** Bytes of `raw` kept as they are, not yet in `out` (consecutive lines are handed over as one slice). */
  private run = { start: 0, end: 0 };
  private top = true;
  /** A base64 or quoted-printable leaf part: its encoding and where its body starts and ends. */
  private encoded: { encoding: string; start: number; end: number } | null = null;

  constructor(
    private raw: Buffer,
    private type: string,
  ) {}

  /** Hands bytes `start` to `end` of the message to the parser as they are. */
  keep(start: number, end: number) {
    if (this.run.end !== start) {
      this.flush();
      this.run.start = start;
    }
    this.run.end = end;
  }

  private write(text: string) {
    this.flush();
    this.out.push(Buffer.from(text, 'latin1'));
  }

  private flush() {
    if (this.run.end > this.run.start) this.out.push(this.raw.subarray(this.run.start, this.run.end));
    this.run = { start: 0, end: 0 };
  }

  /** Ends the header block: writes what the parser reads of it, and registers its boundary when a body follows. */
  endBlock(bodyFollows: boolean): string | null {
    const b = this.block;
    this.block = null;
    if (!b) return null;
    const ct = b.first('content-type');
    const parsed = ct === undefined ? undefined : contentType(ct);
    if (parsed && 'bad' in parsed) return parsed.bad;
    const cte = transferEncoding(b.first('content-transfer-encoding') ?? '');
    if (this.top) this.write('MIME-Version: 1.0\r\n');
    if (parsed) {
      const report = this.top ? `; report-type=${this.type}` : '';
      this.write(`Content-Type: ${parsed.type}${report}${parsed.boundary ? `; boundary="${parsed.boundary}"` : ''}\r\n`);
    }
    if (cte) this.write(`Content-Transfer-Encoding: ${cte}\r\n`);
    this.top = false;
    if (bodyFollows && parsed?.boundary) this.boundaries.push(Buffer.from(parsed.boundary, 'latin1'));
    const leafEncoded = bodyFollows && !parsed?.boundary && (cte === 'base64' || cte === 'quoted-printable');
    this.encoded = leafEncoded ? { encoding: cte, start: -1, end: -1 } : null;
    return null;
  }

  body(start: number, next: number) {
    if (this.encoded) {
      if (this.encoded.start < 0) this.encoded.start = start;
      this.encoded.end = next;
    }
    this.keep(start, next);
  }

  endPart() {
    const e = this.encoded;
    if (e && e.start >= 0) this.decoded.push(decode(e.encoding, this.raw.toString('latin1', e.start, e.end)));
    this.encoded = null;
  }

  input(): Buffer {
    this.flush();
    return Buffer.concat(this.out);
  }
}

/**
 * The report window of `raw` (top-level type multipart/report; `type` its report-type), or why it is not read as a
 * report. The scan follows the MIME structure as postal-mime does (a header block at the top and after each boundary
 * line, the enclosing multiparts' boundaries matched newest first, one matched ending the parts nested in it), so the
 * parser is handed only header fields the scan wrote and boundaries it counted. Quoted messages are not split (the
 * parser is told not to read them: report.ts).
 */
export function reportWindow(raw: Buffer, type: string): ReportWindow | { refused: string } {
  const end = windowEnd(raw);
  const scan = new Scan(raw, type);
  for (const { start, cut, next } of lines(raw, end)) {
    const delimiter = boundaryLine(raw, start, cut, scan.boundaries);
    if (delimiter) {
      if (++scan.boundaryLines > MAX_BOUNDARY_LINES) return { refused: `more than ${MAX_BOUNDARY_LINES} MIME boundary lines (a report has 2 to 4 parts)` };
      const bad = scan.endBlock(false);
      if (bad) return { refused: bad };
      scan.endPart();
      scan.boundaries.length = delimiter.index + (delimiter.closing ? 0 : 1);
      scan.keep(start, next);
      if (!delimiter.closing) scan.block = new Block();
    } else if (scan.block && cut === start) {
      const bad = scan.endBlock(true);
      if (bad) return { refused: bad };
      scan.keep(start, next);
    } else if (scan.block) {
      const long = scan.block.add(raw, start, cut);
      if (long) return { refused: long };
    } else scan.body(start, next);
  }
  const bad = scan.endBlock(false);
  if (bad) return { refused: bad };
  scan.endPart();
  return { input: scan.input(), texts: () => [raw.toString('latin1', 0, end), ...scan.decoded] };
}

/** Which enclosing boundary a line is a delimiter of (postal-mime's rule: newest first, `--b` or `--b--`, then only SP/HT). */
function boundaryLine(raw: Buffer, start: number, cut: number, boundaries: Buffer[]): { index: number; closing: boolean } | null {
  if (!boundaries.length || cut - start <= 2 || raw[start] !== 0x2d || raw[start + 1] !== 0x2d) return null;
  for (let i = boundaries.length - 1; i >= 0; i--) {
    const b = boundaries[i];
    let at = start + 2 + b.length;
    if (at > cut || raw.compare(b, 0, b.length, start + 2, at) !== 0) continue;
    const closing = cut - at >= 2 && raw[at] === 0x2d && raw[at + 1] === 0x2d;
    if (closing) at += 2;
    while (at < cut && (raw[at] === 0x20 || raw[at] === 0x09)) at++;
    if (at === cut) return { index: i, closing };
  }
  return null;
}
