import type { Knex } from 'knex';
import { recordEvents } from '../events/record';
import type { Services } from '../command';
import { classifyReply, enhancedCode } from '../delivery/classify';
import { addSuppression } from '../suppression/suppressions';
import { whitelisted } from '../suppression/scopes';
import { noteSoftBounce, SOFT_CLASSES } from '../suppression/soft-bounces';
import { complaintVerdict, DkimResolver } from './complaint-trust';
import type { InboundMail } from './mail';
import { DeliveryRef, matchReport, mayNameDelivery, noVerpNote } from './match';
import { DsnRecipient, parseReport, Report } from './report';
import { REPORT_PARSE_BYTES, reportType, reportWindow, topContentType } from './report-window';

/**
 * A DSN recipient's reply as LastReply shows it, with its status code once: the diagnostic when it carries the
 * codes itself ("550 5.1.1 <…>"), else the Status field before it ("5.4.4 Host or domain name not found").
 */
export function dsnReply(r: DsnRecipient): string {
  if (enhancedCode(r.diagnostic) || /^\d{3}\b/.test(r.diagnostic)) return r.diagnostic;
  return [r.status, r.diagnostic].filter(Boolean).join(' ');
}

/** The basic code behind a DSN recipient: the diagnostic's own when it agrees with Status, else 550 / 450. */
function dsnBasicCode(r: DsnRecipient): number {
  const own = /^(\d)\d\d\b/.exec(r.diagnostic);
  if (own && own[1] === r.status[0]) return Number(own[0]);
  return r.status.startsWith('5') ? 550 : 450;
}

/** The recipient block about this delivery: the one naming its address, else the report's only one. */
function blockFor(report: Extract<Report, { kind: 'dsn' }>, d: DeliveryRef): DsnRecipient | undefined {
  const rcpt = d.recipient.toLowerCase();
  const named = report.recipients.find((r) => r.finalRecipient.toLowerCase() === rcpt || r.originalRecipient.toLowerCase() === rcpt);
  return named ?? (report.recipients.length === 1 ? report.recipients[0] : undefined);
}

async function event(services: Services, d: DeliveryRef, type: string, data: Record<string, unknown>, trx = services.db) {
  await recordEvents(trx, [
    {
      message_id: d.message_id,
      delivery_id: Number(d.id),
      domain_id: Number(d.domain_id),
      user_id: Number(d.user_id),
      type,
      created_at: Date.now(),
      data: { recipient: d.recipient, ...data },
    },
  ]);
}

/** Serialises reports about one delivery (MySQL; SQLite runs one write transaction at a time). */
async function lockDelivery(trx: Knex.Transaction, d: DeliveryRef): Promise<{ status: string; bounce_class: string | null } | undefined> {
  const q = trx('deliveries').where({ id: d.id }).first('status', 'bounce_class');
  return (trx.client.config.client === 'mysql2' ? await q.forUpdate() : await q) as { status: string; bounce_class: string | null } | undefined;
}

/** Whether the delivery already has an event of this type (only the intake writes `complained`). */
async function reported(trx: Knex, d: DeliveryRef, type: string): Promise<boolean> {
  const row = await trx('events').where({ message_id: d.message_id, delivery_id: d.id, type }).first('id');
  return !!row;
}

/** What an inbound message keeps until it proves to be a report about one of our deliveries: its headers, for a look. */
const UNMATCHED_KEEP_BYTES = 8 * 1024;
/** Feedback types that are complaints (RFC 5965 abuse, fraud, virus, other; most loops send abuse). */
const COMPLAINT_TYPES = new Set(['abuse', 'fraud', 'virus', 'other']);

/** A delayed-DSN `deferred` event per delivery at most this often: MTAs send them hours apart. */
const DELAY_REPORT_MS = 3_600_000;

/**
 * Whether the intake recorded a delay report for the delivery at or after `since`. The delivery worker writes
 * `deferred` events for its own retries too, and one of those must not pass for a remote MTA's delay report: only
 * the intake's carry `source: "dsn"` (they have since the intake's first version, so stored events read the same).
 */
async function delayReported(trx: Knex.Transaction, d: DeliveryRef, since: number): Promise<boolean> {
  const rows: string[] = await trx('events')
    .where({ message_id: d.message_id, delivery_id: d.id, type: 'deferred' })
    .where('created_at', '>=', since)
    .pluck('data');
  return rows.some((data) => (JSON.parse(data) as { source?: unknown } | null)?.source === 'dsn');
}

/**
 * Stores every message received for the MFROM hosts, then reads it as a DSN or ARF report and applies it to
 * the one delivery its VERP address names (src/inbound/match.ts): a failure moves the delivery to `bounced`
 * with a `bounced` event (an address-level one also suppresses the address), a delay adds a `deferred` event,
 * a complaint adds a `complained` event and a suppression entry. Each counts once per delivery (a delay once an
 * hour): anyone who received a message knows its VERP address and could replay a report, and each event counts in
 * the bounce and complaint rates (which can suspend the domain, src/domains/reputation-guard.ts) and calls webhooks.
 * A replay is kept as `duplicate`. A report that names no delivery that way is kept as `unmatched` and changes
 * nothing (one that cannot, by its VERP addresses, is not even parsed); unreadable mail, and a report whose header
 * fields or parts are beyond any real report's, stays stored as `unparsed`. All three are logged. With COMPLAINT_TRUSTED_SOURCES set, a
 * complaint from any other source is kept as `untrusted` (logged at info: anyone may send one) and changes nothing;
 * `retry` then asks the listener for a 451 when a listed domain's key lookup failed for now (logged at warn).
 */
export async function processInbound(
  services: Services,
  mail: InboundMail,
  // Required: the listener's, cached (dkim-key-cache.ts); a default here would look every key up again.
  opts: { dkimResolver: DkimResolver },
): Promise<{ id: number; status: string; note: string; retry?: boolean }> {
  const [id] = await services.db('inbound_messages').insert({
    received_at: Date.now(),
    mail_from: mail.mailFrom.slice(0, 320),
    rcpt_to: mail.rcptTo.join(', '),
    size: mail.size ?? mail.raw.length,
    // Only its start until it proves to be a report about one of our deliveries (finish keeps what the intake read,
    // REPORT_PARSE_BYTES, then): anyone may send here to any local part, 600 messages a minute from each address, kept
    // 30 days; 256 KiB of each was some 9 GiB an hour from one address. `size` keeps the real length.
    raw: mail.raw.subarray(0, UNMATCHED_KEEP_BYTES),
    kind: 'unknown',
    status: 'unparsed',
    note: '',
  });
  const finish = async (kind: string, status: string, note: string, deliveryId: number | null = null, retry = false) => {
    const kept = deliveryId !== null && mail.raw.length > UNMATCHED_KEEP_BYTES ? { raw: mail.raw.subarray(0, REPORT_PARSE_BYTES) } : {};
    await services
      .db('inbound_messages')
      .where({ id })
      .update({ kind, status, note: note.slice(0, 1000), delivery_id: deliveryId, ...kept });
    // An untrusted complaint is expected traffic once COMPLAINT_TRUSTED_SOURCES is set, not a fault to look into; a
    // retry is: a trusted loop's key lookup failed (a DNS_SERVERS that answers nothing turns every complaint away).
    // Nor are auto-replies and spam sent to return paths (unparsed, unmatched): every one at warn was noise.
    const level = retry ? 'warn' : 'info';
    if (status !== 'processed') services.logger[level]('inbound mail not applied to a delivery', { inboundId: Number(id), kind, status, note });
    return { id: Number(id), status, note };
  };

  // Anyone may send here, and the MIME parser's cost is the sender's to choose: nothing is parsed that is not a report
  // of ours by its top-level type, its VERP address (an HMAC, no query) and its shape (src/inbound/report-window.ts).
  const type = reportType(topContentType(mail.raw));
  if (type !== 'delivery-status' && type !== 'feedback-report') return finish('unknown', 'unparsed', 'not a delivery-status or feedback report');
  // A DSN names its delivery by its envelope recipient alone (matchReport).
  if (type === 'delivery-status' && !mayNameDelivery(services, mail.rcptTo)) return finish('dsn', 'unmatched', noVerpNote('dsn'));
  const scanned = reportWindow(mail.raw, type);
  if ('refused' in scanned) return finish('unknown', 'unparsed', `not read as a report: ${scanned.refused}`);
  if (type === 'feedback-report' && !mayNameDelivery(services, mail.rcptTo, scanned.texts)) return finish('arf', 'unmatched', noVerpNote('arf'));
  let report: Report | null;
  try {
    report = await parseReport(scanned.input);
  } catch (err) {
    return finish('unknown', 'unparsed', `unreadable MIME: ${(err as Error).message}`);
  }
  if (!report) return finish('unknown', 'unparsed', 'not a delivery-status or feedback report');
  const match = await matchReport(services, mail, report);
  if ('unmatched' in match) return finish(report.kind, 'unmatched', match.unmatched);
  const target = match.delivery;

  if (report.kind === 'arf') {
    const arf = report;
    // RFC 5965/6591 also report a message that is not spam (not-spam) or failed authentication (auth-failure, dkim):
    // none of those is the recipient asking for no more mail.
    if (!COMPLAINT_TYPES.has(arf.feedbackType)) {
      return finish('arf', 'unmatched', `a "${arf.feedbackType}" feedback report is not a complaint; nothing changed`, target.id);
    }
    const sources = services.config.complaintTrustedSources;
    let source = '';
    if (sources) {
      // A replay changes nothing whoever sent it: answered before the DKIM check, whose body hash reads up to 2 MiB.
      if (await reported(services.db, target, 'complained')) return finish('arf', 'duplicate', `complaint for ${target.recipient} already recorded`, target.id);
      const verdict = await complaintVerdict(sources, mail, opts.dkimResolver);
      services.metrics.complaintSource(verdict.trusted ? 'trusted' : verdict.retry ? 'retry' : 'untrusted');
      if (!verdict.trusted) {
        const note = `complaint for ${target.recipient} not applied: ${verdict.why}`;
        const retry = verdict.retry === true;
        const done = await finish('arf', 'untrusted', retry ? `${note}; answered 451 for a retry` : note, target.id, retry);
        return { ...done, retry };
      }
      source = `, ${verdict.by}`;
    }
    const fresh = await services.db.transaction(async (trx) => {
      // Gone since the match (message retention): nothing to record against.
      if (!(await lockDelivery(trx, target))) return false;
      if (await reported(trx, target, 'complained')) return false;
      await event(services, target, 'complained', { feedback_type: arf.feedbackType, source: 'arf' }, trx);
      await addSuppression(trx, target.domain_id, target.recipient, 'complaint', `feedback report (${arf.feedbackType})`);
      return true;
    });
    if (!fresh) return finish('arf', 'duplicate', `complaint for ${target.recipient} already recorded`, target.id);
    return finish('arf', 'processed', `complaint for ${target.recipient}${source}`, target.id);
  }

  const r = blockFor(report, target);
  if (!r) return finish('dsn', 'unmatched', `none of the report's ${report.recipients.length} recipients is ${target.recipient}`);
  const reply = dsnReply(r).slice(0, 1000);
  if (r.action === 'failed') {
    // The reporting MTA gave up: the delivery is bounced whatever the class; only an address-level failure suppresses.
    const verdict = classifyReply(dsnBasicCode(r), reply, r.status);
    // As a refusal at delivery (send-attempt.ts): the account's whitelist overrules the suppression, not the bounce.
    const suppress = verdict.suppress && !(await whitelisted(services.db, target.user_id, target.recipient));
    let counted = false;
    const fresh = await services.db.transaction(async (trx) => {
      const row = await lockDelivery(trx, target);
      if (!row || row.status === 'bounced') return false;
      // Failed here on a soft reply, it was counted then (send-attempt.ts): a message counts one soft bounce at most.
      counted = row.status === 'failed' && SOFT_CLASSES.has(row.bounce_class ?? '');
      await trx('deliveries')
        .where({ id: target.id })
        .update({ status: 'bounced', bounce_class: verdict.class, last_reply: reply, finished_at: Date.now(), updated_at: Date.now(), lease_until: 0 });
      await event(services, target, 'bounced', { source: 'dsn', bounce_class: verdict.class, smtp_reply: reply, status: r.status }, trx);
      if (suppress) await addSuppression(trx, target.domain_id, target.recipient, 'hard_bounce', reply);
      return true;
    });
    if (!fresh) return finish('dsn', 'duplicate', `${target.recipient} already bounced`, target.id);
    // A relay that gave up on a soft reply (mailbox full, its retries expired): one soft bounce, as at delivery.
    if (SOFT_CLASSES.has(verdict.class) && !counted) {
      await noteSoftBounce(services, target, reply).catch((err) =>
        services.logger.warn('soft bounce not counted', { deliveryId: Number(target.id), error: (err as Error).message }),
      );
    }
    return finish('dsn', 'processed', `bounced ${target.recipient} (${verdict.class})`, target.id);
  }
  if (r.action === 'delayed') {
    const fresh = await services.db.transaction(async (trx) => {
      if (!(await lockDelivery(trx, target))) return false;
      if (await delayReported(trx, target, Date.now() - DELAY_REPORT_MS)) return false;
      await event(services, target, 'deferred', { source: 'dsn', smtp_reply: reply, status: r.status }, trx);
      return true;
    });
    if (!fresh) return finish('dsn', 'duplicate', `delay of ${target.recipient} already reported within the hour`, target.id);
    return finish('dsn', 'processed', `delayed ${target.recipient}`, target.id);
  }
  return finish('dsn', 'unmatched', `action "${r.action}" for ${target.recipient} changes nothing`, target.id);
}
