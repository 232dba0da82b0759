import type { Config } from '../config';
import { dkimRecordValue } from './dkim';
import type { DomainHosts } from './names';

/** `dkim-next`: a rotation's new key, waiting for its record; `dkim-previous`: the key it replaced, kept for a while. */
export type RecordPurpose = 'mfrom' | 'dkim' | 'tracking' | 'dmarc' | 'dkim-next' | 'dkim-previous';

/** A DKIM key besides the active one: its selector and public key. */
export interface ExtraDkimKey {
  selector: string;
  publicKeyB64: string;
}

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
  /** The lookup got no answer either way (timeout, SERVFAIL, refused): set only then. */
  inconclusive?: boolean;
}

/**
 * The record set a customer publishes for a sender domain (README "DNS records"):
 * - MFROM host CNAME → MAIL_HOSTNAME: bounces (MX), SPF and A come through the CNAME chain.
 * - `<selector>._domainkey.<domain>` TXT with this domain's own public key: DKIM aligned with From.
 * - tracking host CNAME → MAIL_HOSTNAME, unless tracking uses the MFROM host.
 * - `_dmarc.<domain>` TXT: recommended, not required (a domain may already have its own policy).
 * - during a DKIM rotation (docs/dns-watch-and-dkim-rotation.md): the new key's TXT record, which the switch waits
 *   for, and after it the old key's, to keep published until the old key is removed. Neither decides the status.
 */
export function buildDnsRecords(
  domain: string,
  hosts: DomainHosts,
  selector: string,
  publicKeyB64: string,
  config: Pick<Config, 'mailHostname' | 'dmarcRecord'>,
  rotation: { next?: ExtraDkimKey | null; previous?: ExtraDkimKey | null } = {},
): DnsRecord[] {
  const records: DnsRecord[] = [
    { host: hosts.mfromHost, type: 'CNAME', value: config.mailHostname, required: true, purpose: 'mfrom' },
    { host: `${selector}._domainkey.${domain}`, type: 'TXT', value: dkimRecordValue(publicKeyB64), required: true, purpose: 'dkim' },
  ];
  if (hosts.trackingHost !== hosts.mfromHost) {
    records.push({ host: hosts.trackingHost, type: 'CNAME', value: config.mailHostname, required: true, purpose: 'tracking' });
  }
  records.push({ host: `_dmarc.${domain}`, type: 'TXT', value: config.dmarcRecord, required: false, purpose: 'dmarc' });
  const { next, previous } = rotation;
  if (next)
    records.push({
      host: `${next.selector}._domainkey.${domain}`,
      type: 'TXT',
      value: dkimRecordValue(next.publicKeyB64),
      required: false,
      purpose: 'dkim-next',
    });
  if (previous)
    records.push({
      host: `${previous.selector}._domainkey.${domain}`,
      type: 'TXT',
      value: dkimRecordValue(previous.publicKeyB64),
      required: false,
      purpose: 'dkim-previous',
    });
  return records;
}
