import type { Config } from '../config';
import type { Db } from '../db';
import { formatTime, yesNo } from '../auth/users';
import { buildDnsRecords, DnsRecord } from './dns-records';
import { composeHosts, HostSettings } from './names';

export interface DomainRow extends HostSettings {
  id: number;
  user_id: number;
  status: string;
  link_tracking: number | boolean;
  open_tracking: number | boolean;
  unsubscribe_link: number | boolean;
  hosting_provider: string | null;
  dkim_selector: string;
  dkim_private_key_enc: string;
  dkim_public_key: string;
  dns_records: string;
  last_verified_at: number | null;
  created_at: number;
  updated_at: number;
}

export const STATUS = { pending: 'Approval Pending', enabled: 'Enabled', disabled: 'Disabled', suspended: 'Suspended' } as const;

/** The caller's domain, or undefined for a missing id and for another user's id alike. */
export async function findOwnedDomain(db: Db, userId: number, domainId: unknown): Promise<DomainRow | undefined> {
  const id = Number(domainId);
  if (!Number.isSafeInteger(id) || id <= 0) return undefined;
  return db('sender_domains').where({ id, user_id: userId }).first();
}

export function parseRecords(row: Pick<DomainRow, 'dns_records'>): DnsRecord[] {
  return JSON.parse(row.dns_records) as DnsRecord[];
}

/** Recomputes the record set from the row's current host settings (keeps the DKIM key). */
export function recordsFor(row: HostSettings & Pick<DomainRow, 'dkim_selector' | 'dkim_public_key'>, config: Config): DnsRecord[] {
  return buildDnsRecords(row.domain, composeHosts(row, config), row.dkim_selector, row.dkim_public_key, config);
}

/** Octeth's `host → [Type, Value]` map, with the probe result appended once verified. */
export function recordMap(records: DnsRecord[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const r of records) out[r.host] = r.ok === undefined ? [r.type, r.value] : [r.type, r.value, r.ok];
  return out;
}

export function presentOptions(row: DomainRow): Record<string, unknown> {
  const o: Record<string, unknown> = {
    LinkTracking: yesNo(row.link_tracking),
    OpenTracking: yesNo(row.open_tracking),
    UnsubscribeLink: yesNo(row.unsubscribe_link),
  };
  if (row.subdomain !== null) o.CustomSubdomain = row.subdomain;
  if (row.track_prefix !== null) o.CustomTrackPrefix = row.track_prefix;
  if (row.track_merge !== null) o.CustomTrackMerge = row.track_merge;
  o.TrackPrefixDisabled = !!yesNo(row.track_prefix_disabled);
  if (row.hosting_provider !== null) o.HostingProvider = row.hosting_provider;
  return o;
}

/** The full domain object of add/get/update replies. */
export function presentDomain(row: DomainRow, config: Config): Record<string, unknown> {
  const records = parseRecords(row);
  const hosts = composeHosts(row, config);
  return {
    DomainID: row.id,
    SenderDomain: row.domain,
    Status: row.status,
    CreatedAt: formatTime(row.created_at),
    LastVerifiedAt: formatTime(row.last_verified_at),
    Options: presentOptions(row),
    MFROMDomain: hosts.mfromHost,
    TrackingDomain: hosts.trackingHost,
    DKIMSelector: row.dkim_selector,
    VerificationMeta: { DNSRecords: recordMap(records) },
    DNSRecords: records.map((r) => ({
      Host: r.host,
      Type: r.type,
      Value: r.value,
      Required: r.required,
      Purpose: r.purpose,
      Verified: r.ok ?? null,
      Found: r.found ?? null,
    })),
  };
}
