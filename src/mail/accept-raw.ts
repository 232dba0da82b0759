import type { Services } from '../command';
import { isEnabled, yesNo } from '../auth/users';
import { STATUS } from '../domains/domains';
import {
  addressesIn,
  decodeWords,
  headerBlock,
  headerProblem,
  headerSizeProblem,
  longLineProblem,
  nulProblem,
  MAX_FIELD_ADDRESSES,
  nameOf,
  valueOf,
} from '../smtp/message-rules';
import { suppressedAmongShared } from '../suppression/suppressions';
import { newMessageIdHeader } from './message-id';
import { NOT_THE_SENDERS } from './verdict-headers';
import { persistPrepared } from './accept-group';
import type { CommitStatement } from '../idempotency/keys';
import type { Prepared, Sender } from './prepare';

export interface RawSubmission {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
  /** The SMTP front checked every recipient against the suppression list at RCPT time. */
  recipientsChecked?: boolean;
  /** The caller's idempotent reply for the message id, committed with the message (emailgateway.smtprelay's UUID). */
  reply?: (messageId: string) => CommitStatement;
}

/**
 * `from`: From/Sender outside the domain or duplicated; `content`: malformed (header lines, lines over 998 octets);
 * `header`: a header block over MAX_HEADER_OCTETS.
 */
export type RawRefusal = 'user' | 'domain' | 'sender' | 'from' | 'content' | 'header' | 'suppressed' | 'quota' | 'empty';
export type RawResult = { ok: true; messageId: string } | { ok: false; reason: RawRefusal; message: string };

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/**
 * Fields a client's message loses at the front: Bcc and Return-Path (the envelope's), and what it cannot speak for
 * (receivers' verdicts, src/mail/verdict-headers.ts). Received lines stay: a relay's trace is the client's to give.
 */
const DROPPED = new Set(['bcc', 'return-path', ...NOT_THE_SENDERS]);

/**
 * Splits the header block off and drops the fields Postern must not pass on (DROPPED), adding
 * Message-ID and Date when the client sent none. Everything else, folded lines included, stays byte for byte.
 * `all` is every field the client sent; `fields` what is kept.
 */
export function rewriteHeaders(raw: Buffer, domain: string): { mime: Buffer; messageIdHeader: string; fields: string[]; all: string[] } {
  // Only the header block becomes text: the body is copied over as bytes, never decoded.
  const { headEnd, bodyStart } = headerBlock(raw);
  const lines = raw.toString('latin1', 0, headEnd).split(/\r?\n/);
  const fields: string[] = [];
  for (const line of lines) {
    if ((line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) && fields.length) fields[fields.length - 1] += `\r\n${line}`;
    else if (line) fields.push(line);
  }
  const kept = fields.filter((f) => !DROPPED.has(nameOf(f)));
  let messageIdHeader =
    kept
      .find((f) => /^message-id\s*:/i.test(f))
      ?.replace(/^message-id\s*:\s*/i, '')
      .replace(/\s+/g, ' ')
      .trim() ?? '';
  if (!messageIdHeader) {
    messageIdHeader = newMessageIdHeader(domain);
    kept.unshift(`Message-ID: ${messageIdHeader}`);
  }
  if (!kept.some((f) => /^date\s*:/i.test(f))) kept.unshift(`Date: ${new Date().toUTCString().replace('GMT', '+0000')}`);
  const header = kept.join('\r\n');
  const mime = Buffer.concat([Buffer.from(`${header}\r\n\r\n`, 'latin1'), raw.subarray(bodyStart)]);
  return { mime, messageIdHeader, fields: kept, all: fields };
}

/** The unfolded value of the first header field named `name` (lowercase), or undefined. */
function fieldValue(fields: string[], name: string): string | undefined {
  const f = fields.find((x) => nameOf(x) === name);
  return f === undefined ? undefined : valueOf(f);
}

/** Lowercased addresses of every field named `name`. */
function headerAddresses(fields: string[], name: string, parse: (value: string) => string[]): Set<string> {
  return new Set(fields.filter((f) => nameOf(f) === name).flatMap((f) => parse(valueOf(f)).map((a) => a.toLowerCase())));
}

/** addressesIn, each distinct value parsed once: the From check and from_email read the same From. */
function addressMemo(): (value: string) => string[] {
  const seen = new Map<string, string[]>();
  return (value) => {
    let found = seen.get(value);
    if (!found) seen.set(value, (found = addressesIn(value)));
    return found;
  };
}

/** The Subject with RFC 2047 words decoded (latin1 text back to the bytes the client sent, read as UTF-8). */
function subjectOf(fields: string[]): string {
  const v = fieldValue(fields, 'subject');
  if (!v) return '';
  try {
    return decodeWords(Buffer.from(v, 'latin1').toString('utf8'));
  } catch {
    return Buffer.from(v, 'latin1').toString('utf8');
  }
}

/**
 * Accepts a message handed over as raw RFC 5322 with its envelope (the SMTP front, emailgateway.smtprelay):
 * same account, domain, suppression and quota rules as the API, same persistence and delivery path.
 */
export async function acceptRaw(services: Services, sender: Sender, sub: RawSubmission): Promise<RawResult> {
  if (!isEnabled(sender.user) || !yesNo(sender.user.verified)) return { ok: false, reason: 'user', message: 'account is disabled or not verified' };
  if (sender.domain.status !== STATUS.enabled) return { ok: false, reason: 'domain', message: `domain ${sender.domain.domain} is not activated` };
  if (domainOf(sub.mailFrom) !== sender.domain.domain) return { ok: false, reason: 'sender', message: `envelope sender must be on ${sender.domain.domain}` };
  const big = headerSizeProblem(sub.raw);
  if (big) return { ok: false, reason: 'header', message: big };
  const long = longLineProblem(sub.raw) ?? nulProblem(sub.raw);
  if (long) return { ok: false, reason: 'content', message: long };
  const { mime, messageIdHeader, fields, all } = rewriteHeaders(sub.raw, sender.domain.domain);
  const parse = addressMemo();
  const bad = headerProblem(all, sender.domain.domain, parse, Math.max(MAX_FIELD_ADDRESSES, services.config.smtpMaxRecipients));
  if (bad) return { ok: false, reason: bad.reason, message: bad.message };
  const from = parse(fieldValue(fields, 'from') ?? '')[0];

  const unique = [...new Map(sub.rcptTo.map((r) => [r.toLowerCase(), r])).values()];
  const suppressed = sub.recipientsChecked ? new Set<string>() : await suppressedAmongShared(services.store, sender.domain.id, unique);
  const recipients = unique.filter((r) => !suppressed.has(r.toLowerCase()));
  if (!unique.length) return { ok: false, reason: 'empty', message: 'no recipients' };
  if (!recipients.length) return { ok: false, reason: 'suppressed', message: `recipient is in the suppression list: ${[...suppressed].join(', ')}` };

  // An envelope recipient the To or Cc header names is that; one no header names was a Bcc.
  const [toHeader, ccHeader] = [headerAddresses(all, 'to', parse), headerAddresses(all, 'cc', parse)];
  const kindOf = (email: string) => (toHeader.has(email.toLowerCase()) ? 'to' : ccHeader.has(email.toLowerCase()) ? 'cc' : 'bcc') as 'to' | 'cc' | 'bcc';
  const now = Date.now();
  const messageId = services.rowIds.next(now);
  const prepared: Prepared = {
    messageId,
    scheduled: false,
    recipients: recipients.map((email) => ({ email, kind: kindOf(email) })),
    dropped: unique.filter((r) => suppressed.has(r.toLowerCase())),
    message: {
      id: messageId,
      user_id: sender.user.id,
      domain_id: sender.domain.id,
      api_key_id: null,
      source: sender.source,
      from_email: from,
      subject: subjectOf(fields).slice(0, 998),
      tags: '[]',
      message_id_header: messageIdHeader.slice(0, 255),
      mime,
      content: null,
      mime_size: mime.length,
      send_at: null,
      created_at: now,
    },
  };
  if (!(await persistPrepared(services, sender, [prepared], now, sub.reply?.(messageId))))
    return { ok: false, reason: 'quota', message: 'sending limit reached' };
  return { ok: true, messageId };
}
