import type PostalMimeModule from 'postal-mime';
import { lazy } from '../lazy';

// Read at its first use: most processes (and test files) never parse a stored message (src/lazy.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
const postalMime = lazy(() => (require('postal-mime') as { default: typeof PostalMimeModule }).default);

/**
 * Reads delivery status notifications (RFC 3464, `multipart/report; report-type=delivery-status`) and
 * feedback reports (RFC 5965 ARF, `report-type=feedback-report`). postal-mime takes the MIME apart; the
 * report parts are RFC 822-style field blocks, read by `fieldBlocks` below (no maintained npm parser exists
 * for them: the `dsn` package is a small unmaintained one).
 */
export interface DsnRecipient {
  finalRecipient: string;
  /** The address as the original envelope named it (ORCPT), when the reporting MTA kept it; else ''. */
  originalRecipient: string;
  action: string;
  status: string;
  diagnostic: string;
}

export type Report =
  | { kind: 'dsn'; recipients: DsnRecipient[]; originalHeaders: Record<string, string> }
  | { kind: 'arf'; feedbackType: string; originalRcptTo: string; originalMailFrom: string; originalHeaders: Record<string, string> };

/** Splits a field block into groups (separated by blank lines) of lowercase name → unfolded value. */
export function fieldBlocks(text: string): Record<string, string>[] {
  const groups: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  let last = '';
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(current).length) groups.push(current);
      current = {};
      last = '';
      continue;
    }
    if (/^[ \t]/.test(line) && last) {
      current[last] += ` ${line.trim()}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i).trim().toLowerCase();
    current[last] = line.slice(i + 1).trim();
  }
  if (Object.keys(current).length) groups.push(current);
  return groups;
}

/** `rfc822; user@example.org` → `user@example.org` */
function address(v: string | undefined): string {
  return (v ?? '')
    .replace(/^[a-z0-9-]+;\s*/i, '')
    .replace(/^<|>$/g, '')
    .trim();
}

function headerMap(text: string): Record<string, string> {
  return fieldBlocks(text.split(/\r?\n\r?\n/)[0] ?? '')[0] ?? {};
}

/**
 * How much of a message is parsed as a report. A report's machine-readable parts come first (RFC 6522: the human
 * text, then the delivery-status or feedback-report part, then the original message or its headers), and postal-mime
 * is slow on long bodies of short lines: 4 MiB of them held the event loop 20 s and took 1.7 GB. The intake accepts
 * mail from anyone, so the parser sees at most this much; the stored message stays whole.
 */
export const REPORT_PARSE_BYTES = 256 * 1024;
/**
 * And at most this many lines: postal-mime's cost is per line (some 12 µs each here), so 256 KiB of empty lines
 * took 3 s of CPU, a cheap way for anyone to load the intake. A report's machine-readable parts are a few dozen lines.
 */
export const REPORT_PARSE_LINES = 4096;

/** The part of `raw` a report is read from: at most REPORT_PARSE_BYTES and REPORT_PARSE_LINES. */
function parsedPart(raw: Buffer): Buffer {
  const limit = Math.min(raw.length, REPORT_PARSE_BYTES);
  let at = -1;
  for (let lines = 0; lines < REPORT_PARSE_LINES; lines++) {
    at = raw.indexOf(0x0a, at + 1);
    if (at < 0 || at >= limit) return raw.subarray(0, limit);
  }
  return raw.subarray(0, at + 1);
}

/** The top-level Content-Type from the header block (unfolded), read without a MIME parser. */
function topContentType(raw: Buffer): string {
  const window = raw.subarray(0, Math.min(raw.length, 64 * 1024)).toString('latin1');
  const end = window.search(/\r?\n\r?\n/);
  const head = (end < 0 ? window : window.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  return /^content-type:[ \t]*([^\r\n]*)/im.exec(head)?.[1] ?? '';
}

export async function parseReport(raw: Buffer): Promise<Report | null> {
  // Most mail to a bounce address is not a report: no parsing for it at all.
  if (!/^\s*multipart\/report\b/i.test(topContentType(raw))) return null;
  const mail = await postalMime().parse(parsedPart(raw), { attachmentEncoding: 'utf8' });
  const ct = mail.headers.find((h) => h.key === 'content-type')?.value ?? '';
  if (!/^\s*multipart\/report\b/i.test(ct)) return null;
  const type = (/report-type\s*=\s*"?([a-z-]+)/i.exec(ct)?.[1] ?? '').toLowerCase();
  const parts = mail.attachments ?? [];
  const part = (...types: string[]) => {
    const found = parts.find((a) => types.includes(a.mimeType.toLowerCase()));
    return found ? String(found.content) : undefined;
  };
  const original = part('message/rfc822', 'text/rfc822-headers', 'message/rfc822-headers', 'message/global-headers');
  const originalHeaders = original ? headerMap(original) : {};

  if (type === 'delivery-status') {
    const status = part('message/delivery-status', 'message/global-delivery-status');
    if (!status) return null;
    const recipients = fieldBlocks(status)
      .filter((g) => g['final-recipient'] || g['original-recipient'])
      .map((g) => ({
        finalRecipient: address(g['final-recipient'] ?? g['original-recipient']),
        originalRecipient: address(g['original-recipient']),
        // Field values are the sender's to choose: kept to the length any real one has (they reach notes and events).
        action: (g.action ?? '').trim().toLowerCase().slice(0, 32),
        status: (g.status ?? '').trim().slice(0, 32),
        // "smtp; 550 5.1.1 …", "X-Postfix; Host or domain name not found…": the type prefix is not part of the reply.
        diagnostic: (g['diagnostic-code'] ?? '').replace(/^[a-z0-9-]+;\s*/i, ''),
      }));
    return recipients.length ? { kind: 'dsn', recipients, originalHeaders } : null;
  }
  if (type === 'feedback-report') {
    const fb = part('message/feedback-report');
    if (!fb) return null;
    const f = fieldBlocks(fb)[0] ?? {};
    return {
      kind: 'arf',
      feedbackType: (f['feedback-type'] ?? 'abuse').trim().toLowerCase().slice(0, 32),
      originalRcptTo: address(f['original-rcpt-to']),
      originalMailFrom: address(f['original-mail-from']),
      originalHeaders,
    };
  }
  return null;
}
