import { recordEvents } from '../events/record';
import type { Services } from '../command';
import { classifyReply } from '../delivery/classify';
import { parseVerp } from '../delivery/verp';
import { verpSecret } from '../delivery/worker';
import { addSuppression } from '../suppression/suppressions';
import { parseReport, Report } from './report';

export interface InboundMail {
  mailFrom: string;
  rcptTo: string[];
  raw: Buffer;
}

interface DeliveryRef {
  id: number;
  message_id: string;
  domain_id: number;
  user_id: number;
  recipient: string;
  status: string;
}

/** The delivery a report is about: the VERP address it came back to, else the original message's headers. */
async function findDeliveries(services: Services, mail: InboundMail, report: Report): Promise<DeliveryRef[]> {
  const secret = verpSecret(services);
  const fromVerp = [...mail.rcptTo, report.originalHeaders['return-path'] ?? ''].map((a) => parseVerp(secret, a.replace(/^<|>$/g, ''))).find((id) => id !== null);
  if (fromVerp) return services.db('deliveries').where({ id: fromVerp });
  const messageIdHeader = (report.originalHeaders['message-id'] ?? '').trim();
  if (!messageIdHeader) return [];
  const message = await services.db('messages').where({ message_id_header: messageIdHeader }).first('id');
  return message ? services.db('deliveries').where({ message_id: message.id }) : [];
}

async function event(services: Services, d: DeliveryRef, type: string, data: Record<string, unknown>, trx = services.db) {
  await recordEvents(trx, [{ message_id: d.message_id, delivery_id: Number(d.id), domain_id: Number(d.domain_id), user_id: Number(d.user_id), type, created_at: Date.now(), data: { recipient: d.recipient, ...data } }]);
}

/**
 * Stores every message received for the MFROM hosts, then reads it as a DSN or ARF report: bounces move the
 * delivery to `bounced` with a `bounced` event (a hard one also suppresses the address), delays add a
 * `deferred` event, complaints add a `complained` event and a suppression entry. Unreadable mail stays stored
 * with status `unparsed` and is logged; nothing is dropped.
 */
export async function processInbound(services: Services, mail: InboundMail): Promise<{ id: number; status: string; note: string }> {
  const [id] = await services.db('inbound_messages').insert({
    received_at: Date.now(),
    mail_from: mail.mailFrom.slice(0, 320),
    rcpt_to: mail.rcptTo.join(', '),
    size: mail.raw.length,
    raw: mail.raw,
    kind: 'unknown',
    status: 'unparsed',
    note: '',
  });
  const finish = async (kind: string, status: string, note: string, deliveryId: number | null = null) => {
    await services.db('inbound_messages').where({ id }).update({ kind, status, note, delivery_id: deliveryId });
    if (status !== 'processed') services.logger.warn('inbound mail not applied to a delivery', { inboundId: Number(id), kind, status, note });
    return { id: Number(id), status, note };
  };

  let report: Report | null;
  try {
    report = await parseReport(mail.raw);
  } catch (err) {
    return finish('unknown', 'unparsed', `unreadable MIME: ${(err as Error).message}`);
  }
  if (!report) return finish('unknown', 'unparsed', 'not a delivery-status or feedback report');
  const deliveries = await findDeliveries(services, mail, report);
  if (!deliveries.length) return finish(report.kind, 'unmatched', 'no delivery matches the report');

  if (report.kind === 'arf') {
    const arf = report;
    const target = deliveries.find((d) => d.recipient.toLowerCase() === arf.originalRcptTo.toLowerCase()) ?? (deliveries.length === 1 ? deliveries[0] : undefined);
    if (!target) return finish('arf', 'unmatched', `no delivery to ${arf.originalRcptTo || 'the reported recipient'}`);
    await services.db.transaction(async (trx) => {
      await event(services, target, 'complained', { feedback_type: arf.feedbackType, source: 'arf' }, trx);
      await addSuppression(trx, target.domain_id, target.recipient, 'complaint', `feedback report (${arf.feedbackType})`);
    });
    return finish('arf', 'processed', `complaint for ${target.recipient}`, target.id);
  }

  const applied: string[] = [];
  let firstId: number | null = null;
  for (const r of report.recipients) {
    const target = deliveries.length === 1 ? deliveries[0] : deliveries.find((d) => d.recipient.toLowerCase() === r.finalRecipient.toLowerCase());
    if (!target) continue;
    firstId ??= target.id;
    const reply = `${r.status} ${r.diagnostic}`.trim();
    if (r.action === 'failed') {
      const basic = r.status.startsWith('5') ? 550 : 450;
      const verdict = classifyReply(basic, reply);
      const bounceClass = r.status.startsWith('5') ? verdict.class : 'soft';
      await services.db.transaction(async (trx) => {
        await trx('deliveries').where({ id: target.id }).update({ status: 'bounced', bounce_class: bounceClass, last_reply: reply.slice(0, 1000), finished_at: Date.now(), updated_at: Date.now(), lease_until: null });
        await event(services, target, 'bounced', { source: 'dsn', bounce_class: bounceClass, smtp_reply: reply, status: r.status }, trx);
        if (r.status.startsWith('5') && verdict.class === 'hard') await addSuppression(trx, target.domain_id, target.recipient, 'hard_bounce', reply);
      });
      applied.push(`bounced ${target.recipient} (${bounceClass})`);
    } else if (r.action === 'delayed') {
      await event(services, target, 'deferred', { source: 'dsn', smtp_reply: reply, status: r.status });
      applied.push(`delayed ${target.recipient}`);
    }
  }
  if (!applied.length) return finish('dsn', 'unmatched', 'no failed or delayed recipient matched a delivery');
  return finish('dsn', 'processed', applied.join('; '), firstId);
}
