import type { Config } from '../config';
import { dkimRecordValue } from './dkim';
import type { DomainHosts } from './names';

export type RecordPurpose = 'mfrom' | 'dkim' | 'tracking' | 'dmarc';

export interface DnsRecord {
  host: string;
  type: 'CNAME' | 'TXT';
  value: string;
  /** Required records decide Enabled vs Approval Pending; the rest are advice. */
  required: boolean;
  purpose: RecordPurpose;
  /** Result of the last verification, absent until probed. */
  ok?: boolean;
  /** What DNS answered at the last verification (CNAME targets or TXT strings), absent until probed. */
  found?: string[];
}

/**
 * The record set a customer publishes for a sender domain (README "DNS records"):
 * - MFROM host CNAME → MAIL_HOSTNAME: bounces (MX), SPF and A come through the CNAME chain.
 * - `<selector>._domainkey.<domain>` TXT with this domain's own public key: DKIM aligned with From.
 * - tracking host CNAME → MAIL_HOSTNAME, unless tracking uses the MFROM host.
 * - `_dmarc.<domain>` TXT: recommended, not required (a domain may already have its own policy).
 */
export function buildDnsRecords(
  domain: string,
  hosts: DomainHosts,
  selector: string,
  publicKeyB64: string,
  config: Pick<Config, 'mailHostname' | 'dmarcRecord'>,
): DnsRecord[] {
  const records: DnsRecord[] = [
    { host: hosts.mfromHost, type: 'CNAME', value: config.mailHostname, required: true, purpose: 'mfrom' },
    { host: `${selector}._domainkey.${domain}`, type: 'TXT', value: dkimRecordValue(publicKeyB64), required: true, purpose: 'dkim' },
  ];
  if (hosts.trackingHost !== hosts.mfromHost) {
    records.push({ host: hosts.trackingHost, type: 'CNAME', value: config.mailHostname, required: true, purpose: 'tracking' });
  }
  records.push({ host: `_dmarc.${domain}`, type: 'TXT', value: config.dmarcRecord, required: false, purpose: 'dmarc' });
  return records;
}
