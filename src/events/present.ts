import type { EventRow } from './query';
import { legacyEventName } from './vocabulary';

/** Events' `To` is the recipient the event is about (data.recipient). */
function recipientOf(row: EventRow): string {
  return typeof row.data.recipient === 'string' ? row.data.recipient : '';
}

/**
 * A private getevents item: the contract's `{event, timestamp, message:{headers:{from,to,subject}}}` (event in
 * the private vocabulary, timestamp in Unix seconds), plus id, message_id, domain_id, recipient and data.
 */
export function presentPrivate(row: EventRow): Record<string, unknown> {
  return {
    event: legacyEventName(row.type),
    timestamp: Math.floor(row.created_at / 1000),
    message: { headers: { from: row.from_email ?? '', to: recipientOf(row), subject: row.subject ?? '' } },
    id: row.id,
    message_id: row.message_id,
    domain_id: row.domain_id,
    recipient: recipientOf(row),
    data: row.data,
  };
}

/** A GET /api/v1/events item: the contract's `{Event, LoggedAt, Message:{Headers:{From,To,Subject}}}` plus EventID, MessageID, Recipient, Data. */
export function presentPublic(row: EventRow): Record<string, unknown> {
  return {
    Event: legacyEventName(row.type),
    LoggedAt: Math.floor(row.created_at / 1000),
    Message: { Headers: { From: row.from_email ?? '', To: recipientOf(row), Subject: row.subject ?? '' } },
    EventID: row.id,
    MessageID: row.message_id,
    Recipient: recipientOf(row),
    Data: row.data,
  };
}
