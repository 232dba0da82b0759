import type { Services } from '../command';
import { composeHosts, normalizeDomain } from '../domains/names';
import { parseVerp, verpSecrets } from '../delivery/verp';
import type { InboundMail } from './mail';
import type { Report } from './report';

export interface DeliveryRef {
  id: number;
  message_id: string;
  domain_id: number;
  user_id: number;
  recipient: string;
  status: string;
}

export type Match = { delivery: DeliveryRef } | { unmatched: string };

/** How long after a delivery ended a DSN for it is still applied (queues keep mail for about five days). */
export const DSN_MAX_AGE_MS = 14 * 86_400_000;
/** And a complaint: a reader may mark old mail as spam, but not a message of a season ago. */
export const ARF_MAX_AGE_MS = 90 * 86_400_000;

const bare = (a: string) => a.trim().replace(/^<|>$/g, '');
/** Message-IDs compared without brackets, whitespace (folding) or case of the domain part. */
const msgId = (v: string) => {
  const s = v.replace(/[\s<>]/g, '');
  const at = s.lastIndexOf('@');
  return at < 0 ? s : s.slice(0, at) + s.slice(at).toLowerCase();
};
/** The stored header is cut at 255 characters (messages.message_id_header): a longer one matches by its start. */
function sameMessageId(reported: string, stored: string): boolean {
  const a = msgId(reported);
  const b = msgId(stored);
  return a === b || (stored.length >= 255 && b.length > 0 && a.startsWith(b));
}

/** Why a report naming no delivery by a valid VERP address is left unmatched. */
export function noVerpNote(kind: Report['kind']): string {
  const where = kind === 'dsn' ? 'its envelope recipient' : 'its envelope recipient, Original-Mail-From or quoted Return-Path';
  return `no valid VERP address in ${where}; reports are matched by VERP address only`;
}

/** Where parseVerp finds a VERP address (its local part and the `@`), anywhere in a text. */
const VERP_SHAPE = /b-\d{1,18}-[a-z0-9]{10}@/gi;
/**
 * The most VERP-shaped strings looked at in one report's texts: a real one holds a few (Original-Mail-From, the
 * quoted Return-Path), and each costs an HMAC per key.
 */
const MAX_VERP_CANDIDATES = 32;

/**
 * Whether a report may name one of our deliveries, by HMAC alone (microseconds, no parse, no query): an envelope
 * recipient is a valid VERP address, or one is somewhere in `texts` (an ARF report's: the parse window and its
 * decoded parts, where Original-Mail-From and the quoted Return-Path are; read only when the envelope names none). matchReport reads no other place, so a
 * report failing this is unmatched whatever it holds, and is not parsed: anyone may send the intake reports.
 */
export function mayNameDelivery(services: Services, rcptTo: string[], texts: () => string[] = () => []): boolean {
  const secrets = verpSecrets(services);
  if (rcptTo.some((a) => parseVerp(secrets, bare(a)) !== null)) return true;
  let looked = 0;
  for (const text of texts()) {
    for (const m of text.matchAll(VERP_SHAPE)) {
      if (parseVerp(secrets, m[0]) !== null) return true;
      if (++looked >= MAX_VERP_CANDIDATES) return false;
    }
  }
  return false;
}

/**
 * The one delivery a report is about, named by an HMAC-checked VERP address; anything else leaves the report
 * unmatched. A Message-ID is never enough on its own: every To and Cc recipient of a message has seen it, so
 * matching by it let any of them bounce (and suppress) the others. Where does the VERP address come from?
 * - a DSN goes back to the original envelope sender, so only the report's envelope recipient counts;
 * - an ARF report goes to the address registered with the feedback loop, so its VERP address may also come
 *   from Original-Mail-From or the Return-Path of the message it quotes.
 * The VERP address's host must be the MFROM host of the delivery's own domain (another tenant's return-path
 * host does not do), and a Message-ID in the report, when it has one, must be that delivery's message's.
 */
export async function matchReport(services: Services, mail: InboundMail, report: Report): Promise<Match> {
  const secrets = verpSecrets(services);
  const candidates = [...mail.rcptTo];
  if (report.kind === 'arf') candidates.push(report.originalMailFrom, report.originalHeaders['return-path'] ?? '');
  const named = new Map<number, string>();
  for (const a of candidates.map(bare).filter(Boolean)) {
    const id = parseVerp(secrets, a);
    // MFROM hosts are compared in ASCII (xn--): the envelope recipient arrives so (listener.ts), a report's own
    // header fields may not.
    if (id !== null && !named.has(id)) {
      const host = a.slice(a.lastIndexOf('@') + 1);
      named.set(id, normalizeDomain(host) ?? host.toLowerCase());
    }
  }
  if (!named.size) return { unmatched: noVerpNote(report.kind) };
  if (named.size > 1) return { unmatched: `VERP addresses of ${named.size} different deliveries; ignored as ambiguous` };
  const [[id, host]] = [...named];
  const row = await services
    .db('deliveries as d')
    .join('messages as m', 'm.id', 'd.message_id')
    .join('sender_domains as s', 's.id', 'd.domain_id')
    .where('d.id', id)
    .first(
      'd.id',
      'd.message_id',
      'd.domain_id',
      'd.user_id',
      'd.recipient',
      'd.status',
      'd.finished_at',
      'm.message_id_header',
      's.domain',
      's.subdomain',
      's.track_prefix',
      's.track_merge',
      's.track_prefix_disabled',
    );
  if (!row) return { unmatched: `VERP address names delivery ${id}, which no longer exists` };
  if (composeHosts(row, services.config).mfromHost !== host)
    return { unmatched: `VERP address for delivery ${id} arrived at ${host}, not at its own domain's return-path host` };
  const reported = report.originalHeaders['message-id'];
  if (reported && !sameMessageId(reported, String(row.message_id_header ?? ''))) {
    return { unmatched: `the report quotes Message-ID ${reported.slice(0, 200)}, not that of delivery ${id}'s message` };
  }
  // A VERP tag never expires, and anyone who saw a forwarded copy's Return-Path could bounce or complain about a
  // delivery made long ago; a real DSN comes within the days a queue keeps mail, a complaint within weeks.
  const ended = Number(row.finished_at ?? 0);
  if (ended > 0 && Date.now() - ended > (report.kind === 'dsn' ? DSN_MAX_AGE_MS : ARF_MAX_AGE_MS)) {
    const days = Math.floor((Date.now() - ended) / 86_400_000);
    const what = report.kind === 'dsn' ? 'a delivery status report' : 'a complaint';
    return { unmatched: `${what} for delivery ${id} arrived ${days} days after the delivery ended; not applied` };
  }
  const { message_id_header: _m, domain: _d, subdomain: _s, track_prefix: _p, track_merge: _t, track_prefix_disabled: _x, finished_at: _f, ...delivery } = row;
  return { delivery: { ...delivery, id: Number(delivery.id), domain_id: Number(delivery.domain_id), user_id: Number(delivery.user_id) } as DeliveryRef };
}
