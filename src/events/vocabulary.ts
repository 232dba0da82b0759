/**
 * THE event vocabulary table. Postern stores one name per event (`type` in the events table); Octeth's
 * private commands (addwebhook, getevents, aggrevents) speak a second vocabulary, and Octeth's stored/export
 * names (accepted-by-mta, …) are aliases. Every conversion goes through this table; any spelling is accepted
 * on input.
 */
export interface EventName {
  /** Stored in events.type; exportevents' Event column and the public webhooks use it. */
  stored: string;
  /**
   * Octeth's private-command name (addwebhook, getevents, aggrevents; GET /api/v1/events too, whose contract
   * example answers "delivery"), or null when it has none.
   */
  legacy: string | null;
  /** Names in Octeth's stored/export vocabulary that also mean this event. */
  aliases: string[];
}

export const EVENT_NAMES: EventName[] = [
  { stored: 'queued', legacy: null, aliases: ['accepted', 'accepted-by-oempro'] },
  { stored: 'scheduled', legacy: null, aliases: [] },
  { stored: 'suppressed', legacy: null, aliases: ['rejected-by-oempro', 'rejected'] },
  { stored: 'deferred', legacy: null, aliases: [] },
  { stored: 'delivered', legacy: 'delivery', aliases: ['accepted-by-mta'] },
  { stored: 'bounced', legacy: 'bounce', aliases: ['rejected-by-mta'] },
  { stored: 'failed', legacy: null, aliases: [] },
  { stored: 'cancelled', legacy: null, aliases: [] },
  { stored: 'opened', legacy: 'open', aliases: [] },
  { stored: 'clicked', legacy: 'click', aliases: [] },
  { stored: 'unsubscribed', legacy: 'unsubscribe', aliases: [] },
  { stored: 'complained', legacy: 'complaint', aliases: [] },
];

const byAnyName = new Map<string, EventName>();
for (const e of EVENT_NAMES) for (const n of [e.stored, e.legacy, ...e.aliases]) if (n) byAnyName.set(n, e);

/** The stored name for any spelling (case-insensitive), or null when it names no event. */
export function storedEventName(name: string): string | null {
  return byAnyName.get(name.trim().toLowerCase())?.stored ?? null;
}

/** The private-command spelling of a stored name (falls back to the stored name when Octeth has none). */
export function legacyEventName(stored: string): string {
  return byAnyName.get(stored)?.legacy ?? stored;
}

/** Events a webhook may subscribe to: the six the contract names. */
export const WEBHOOK_EVENTS = EVENT_NAMES.filter((e) => e.legacy !== null).map((e) => e.stored);

/**
 * Events of a sender domain rather than of a message (DNS watch, DKIM rotation; docs/dns-watch-and-dkim-rotation.md).
 * Stored in domain_events; a webhook may subscribe to each by this name, in every format.
 */
export const DOMAIN_WEBHOOK_EVENTS = [
  'domain.dns_failed',
  'domain.dns_restored',
  'domain.deactivated',
  'domain.dkim_rotated',
  'domain.dkim_key_removed',
  'domain.suspended',
  'domain.unsuspended',
] as const;
export type DomainEventType = (typeof DOMAIN_WEBHOOK_EVENTS)[number];

/** The domain event a name means (case-insensitive), or null. */
export function domainEventName(name: string): DomainEventType | null {
  const n = name.trim().toLowerCase();
  return (DOMAIN_WEBHOOK_EVENTS as readonly string[]).includes(n) ? (n as DomainEventType) : null;
}
