import type { Config } from '../config';
import type { Db } from '../db';
import { formatTime, yesNo } from '../auth/users';
import { buildDnsRecords, DnsRecord } from './dns-records';
import { composeHosts, HostSettings } from './names';
import type { DomainRow } from '../model';
import { deletionStartedAt, isDeleting } from './deleting';
export type { DomainRow } from '../model';

/** A required record that stopped verifying: what it is, since when, and what DNS answered at the last check. */
export interface DnsFailure {
  host: string;
  type: string;
  purpose: string;
  since: number;
  found: string[];
}

export function parseFailures(row: Pick<DomainRow, 'dns_failures'>): DnsFailure[] {
  if (!row.dns_failures) return [];
  try {
    const v = JSON.parse(row.dns_failures);
    return Array.isArray(v) ? (v as DnsFailure[]) : [];
  } catch {
    return [];
  }
}

export const STATUS = { pending: 'Approval Pending', enabled: 'Enabled', disabled: 'Disabled', suspended: 'Suspended' } as const;

/** What a sender must do about a domain that is not Enabled, for refusals (send codes 32, SMTP 550 5.7.1). */
export function activationAdvice({ status, deleting_at }: Pick<DomainRow, 'status' | 'deleting_at'>): string {
  if (isDeleting({ deleting_at })) return 'it is being deleted (a deletion was begun and not finished)';
  if (status === STATUS.suspended) return 'it was suspended (bounce or complaint rate, or by the admin); only the admin can lift that';
  if (status === STATUS.disabled) return 'enable it first';
  return 'verify its DNS records first';
}

/** The caller's domain, or undefined for a missing id and for another user's id alike. */
export async function findOwnedDomain(db: Db, userId: number, domainId: unknown): Promise<DomainRow | undefined> {
  const id = Number(domainId);
  if (!Number.isSafeInteger(id) || id <= 0) return undefined;
  return db('sender_domains').where({ id, user_id: userId }).first();
}

export function parseRecords(row: Pick<DomainRow, 'dns_records'>): DnsRecord[] {
  return JSON.parse(row.dns_records) as DnsRecord[];
}

type KeyFields = Pick<
  DomainRow,
  'dkim_selector' | 'dkim_public_key' | 'dkim_next_selector' | 'dkim_next_public_key' | 'dkim_previous_selector' | 'dkim_previous_public_key'
>;

/** Recomputes the record set from the row's current host settings (keeps the DKIM keys, a rotation's too). */
export function recordsFor(row: HostSettings & KeyFields, config: Config): DnsRecord[] {
  const extra = (selector?: string | null, publicKeyB64?: string | null) => (selector && publicKeyB64 ? { selector, publicKeyB64 } : null);
  return buildDnsRecords(row.domain, composeHosts(row, config), row.dkim_selector, row.dkim_public_key, config, {
    next: extra(row.dkim_next_selector, row.dkim_next_public_key),
    previous: extra(row.dkim_previous_selector, row.dkim_previous_public_key),
  });
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
    DeletionStartedAt: deletionStartedAt(row),
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
    DNSWatch: presentWatch(row, config),
    DKIMRotation: presentRotation(row),
  };
}

/** The watch's view of the domain: last check, and each broken required record with since when and the grace's end. */
export function presentWatch(row: DomainRow, config: Config): Record<string, unknown> {
  const failures = parseFailures(row);
  const since = row.dns_failed_since ?? null;
  return {
    LastCheckedAt: formatTime(row.dns_checked_at ?? null),
    Failing: failures.length > 0,
    FailingSince: formatTime(since),
    GraceEndsAt: since === null ? null : formatTime(Number(since) + config.dnsFailureGraceHours * 3_600_000),
    FailingRecords: failures.map((f) => ({ Host: f.host, Type: f.type, Purpose: f.purpose, Since: formatTime(f.since), Found: f.found })),
  };
}

/** A rotation in progress (the new key waiting for its record) and the old key still kept after one. */
export function presentRotation(row: DomainRow): Record<string, unknown> {
  return {
    ActiveSelector: row.dkim_selector,
    PendingSelector: row.dkim_next_selector ?? null,
    PendingSince: formatTime(row.dkim_next_created_at ?? null),
    PreviousSelector: row.dkim_previous_selector ?? null,
    PreviousRemovedAt: formatTime(row.dkim_previous_remove_at ?? null),
  };
}
