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
 * The report in `input`, the message's report window as src/inbound/report-window.ts hands it over (its header blocks
 * reduced to the fields read here); null when it is no delivery-status or feedback report.
 */
export async function parseReport(input: Buffer): Promise<Report | null> {
  // A quoted message stays one part: its headers are read below (headerMap), and parsed by postal-mime they cost an
  // address parse of every To and Cc (the report window's scan does not look inside it).
  const mail = await postalMime().parse(input, { attachmentEncoding: 'utf8', maxRfc822NestingDepth: 0 });
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
