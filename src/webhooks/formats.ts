import crypto from 'node:crypto';
import type { EventInput } from '../events/event-input';
import { WEBHOOK_EVENTS } from '../events/vocabulary';

/**
 * Webhook formats: the payload shape, event names and signature scheme of a subscription (the `format` column).
 * - standard: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`), Postern's
 *   own body `{id,type,created_at,data{message_id,recipient,domain,tags,metadata,…}}`.
 * - cloudmails: CloudMails' body `{event,message_id,timestamp,recipient,custom_args}` (+ `url` for clicks, `reason`
 *   for bounces), signed as standard (CloudMails documents no scheme; receivers may ignore the headers).
 * - platform: the platform API's `{id,type:"email.opened",createdAt,data{…}}` with `x-webhook-signature` = hex
 *   HMAC-SHA256 of the raw body keyed with the `whsec_…` secret as written.
 */
export type WebhookFormat = 'standard' | 'cloudmails' | 'platform';
export const WEBHOOK_FORMATS: readonly WebhookFormat[] = ['standard', 'cloudmails', 'platform'];

/** The platform API's names; `email.sent` is Postern's `delivered` (the recipient's server took the message). */
const PLATFORM_NAMES: Record<string, string> = {
  delivered: 'email.sent',
  bounced: 'email.bounced',
  opened: 'email.opened',
  clicked: 'email.clicked',
  unsubscribed: 'email.unsubscribed',
  complained: 'email.complained',
};

export function isWebhookFormat(v: unknown): v is WebhookFormat {
  return typeof v === 'string' && (WEBHOOK_FORMATS as readonly string[]).includes(v);
}

/** A stored event name as the format calls it. */
export function formatEventName(format: WebhookFormat, stored: string): string {
  return format === 'platform' ? (PLATFORM_NAMES[stored] ?? stored) : stored;
}

/** The names a format's subscribers may use, in the table's order. */
export function formatEventNames(format: WebhookFormat): string[] {
  return WEBHOOK_EVENTS.map((e) => formatEventName(format, e));
}

/** The stored name for a format's event name (case-insensitive), or null when the format has no such event. */
export function storedFromFormat(format: WebhookFormat, name: string): string | null {
  const n = name.trim().toLowerCase();
  return WEBHOOK_EVENTS.find((e) => formatEventName(format, e) === n) ?? null;
}

/** What a payload is made of: the event and what is known about its message. */
export interface EventFacts {
  eventId: string;
  event: EventInput;
  /** The sender domain of the event's message. */
  domain: string;
  tags: string[];
  metadata: Record<string, unknown>;
}

const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The event's own details (reply, url, bounce class, …) without the recipient, which every format places itself. */
function details(e: EventInput): Record<string, unknown> {
  return Object.fromEntries(Object.entries(e.data).filter(([k]) => k !== 'recipient'));
}

/** The JSON body of one call in the given format. */
export function renderPayload(format: WebhookFormat, f: EventFacts): string {
  const e = f.event;
  const recipient = (e.data.recipient as string | undefined) ?? null;
  if (format === 'cloudmails') {
    return JSON.stringify({
      event: e.type,
      message_id: e.message_id,
      timestamp: isoSeconds(e.created_at),
      recipient,
      custom_args: f.metadata,
      ...(e.type === 'clicked' && e.data.url !== undefined ? { url: e.data.url } : {}),
      ...(e.type === 'bounced' ? { reason: e.data.smtp_reply ?? null } : {}),
    });
  }
  if (format === 'platform') {
    return JSON.stringify({
      id: f.eventId,
      type: formatEventName('platform', e.type),
      createdAt: new Date(e.created_at).toISOString(),
      data: {
        emailId: e.message_id,
        // The id the send reply's messageId gave, so a client can match the call and look the message up.
        messageId: e.message_id,
        to: recipient,
        domain: f.domain,
        tags: f.metadata,
        ...(e.type === 'clicked' && e.data.url !== undefined ? { url: e.data.url } : {}),
        ...(e.type === 'bounced' ? { reason: e.data.smtp_reply ?? null, bounceType: e.data.bounce_class ?? null } : {}),
      },
    });
  }
  return JSON.stringify({
    id: f.eventId,
    type: e.type,
    created_at: new Date(e.created_at).toISOString(),
    data: { message_id: e.message_id, recipient, domain: f.domain, tags: f.tags, metadata: f.metadata, ...details(e) },
  });
}

/** What a domain event's payload is made of (src/domains/domain-events.ts). */
export interface DomainEventFacts {
  eventId: string;
  type: string;
  createdAt: number;
  domain: string;
  domainId: number;
  data: Record<string, unknown>;
}

/** The JSON body of a domain event in the given format: the format's envelope around the domain and the event's details. */
export function renderDomainPayload(format: WebhookFormat, f: DomainEventFacts): string {
  const data = { domain: f.domain, domain_id: f.domainId, ...f.data };
  if (format === 'cloudmails') return JSON.stringify({ event: f.type, message_id: null, timestamp: isoSeconds(f.createdAt), recipient: null, ...data });
  if (format === 'platform') return JSON.stringify({ id: f.eventId, type: f.type, createdAt: new Date(f.createdAt).toISOString(), data });
  return JSON.stringify({ id: f.eventId, type: f.type, created_at: new Date(f.createdAt).toISOString(), data });
}

/**
 * The secret a call is signed with: the domain's SigningKey (Octeth's rows), with the key it replaced while that is
 * in its grace, or the subscription's `whsec_…`.
 */
export type SigningSecret = { kind: 'domain'; key: string; previousKey?: string } | { kind: 'subscription'; secret: string };

/** A new subscription secret: `whsec_` + base64 of 32 random bytes (the Standard Webhooks notation). */
export function newSubscriptionSecret(): string {
  return `whsec_${crypto.randomBytes(32).toString('base64')}`;
}

/** The Standard Webhooks HMAC key: the SigningKey's text, or the bytes a `whsec_` secret encodes. */
function standardKey(s: SigningSecret): Buffer {
  return s.kind === 'domain' ? Buffer.from(s.key, 'ascii') : Buffer.from(s.secret.replace(/^whsec_/, ''), 'base64');
}

/** `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, the Standard Webhooks signature. */
export function standardSignature(key: Buffer, id: string, timestampSec: number, body: string): string {
  return `v1,${crypto.createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64')}`;
}

/** The headers that sign one call in the given format. */
export function signatureHeaders(format: WebhookFormat, secret: SigningSecret, eventId: string, body: string, timestampSec: number): Record<string, string> {
  if (format === 'platform' && secret.kind === 'subscription') {
    return { 'x-webhook-id': eventId, 'x-webhook-signature': crypto.createHmac('sha256', secret.secret).update(body).digest('hex') };
  }
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(timestampSec),
    // Standard Webhooks lists several signatures space-separated; a verifier accepts a call if any one matches.
    'webhook-signature': [standardKey(secret), ...(secret.kind === 'domain' && secret.previousKey ? [Buffer.from(secret.previousKey, 'ascii')] : [])]
      .map((key) => standardSignature(key, eventId, timestampSec, body))
      .join(' '),
  };
}

/** The body of the test call a subscription may get before it is activated (an event named `ping`). */
export function pingPayload(format: WebhookFormat, eventId: string, now: number): string {
  if (format === 'cloudmails') return JSON.stringify({ event: 'ping', message_id: null, timestamp: isoSeconds(now), recipient: null, custom_args: {} });
  if (format === 'platform') return JSON.stringify({ id: eventId, type: 'ping', createdAt: new Date(now).toISOString(), data: {} });
  return JSON.stringify({ id: eventId, type: 'ping', created_at: new Date(now).toISOString(), data: {} });
}
