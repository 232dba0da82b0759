import { domainToASCII } from 'node:url';
import { ipAllowed, parseIpList } from '../auth/ip-list';

/** COMPLAINT_TRUSTED_SOURCES read: DKIM signing domains (ASCII, lowercase) and connecting addresses or CIDR ranges. */
export interface TrustedSources {
  domains: string[];
  ips: string[];
}

const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$/;

/**
 * Reads `yahoo.com, hotmail.com, 192.0.2.25, 10.1.0.0/16` (commas or spaces): an item of digits and dots, or with a colon
 * or a slash, is an address or range, anything else a signing domain. Empty = null, the setting off.
 */
export function parseTrustedSources(raw: string | undefined): TrustedSources | { bad: string } | null {
  const items = (raw ?? '').split(/[\s,]+/).filter(Boolean);
  if (!items.length) return null;
  const domains: string[] = [];
  const addresses: string[] = [];
  for (const item of items) {
    if (/[:/]|^[\d.]+$/.test(item)) {
      addresses.push(item);
      continue;
    }
    const ascii = domainToASCII(item.toLowerCase().replace(/\.$/, ''));
    if (!DOMAIN.test(ascii)) return { bad: item };
    domains.push(ascii);
  }
  const ips = parseIpList(addresses);
  if ('bad' in ips) return { bad: ips.bad };
  return { domains: [...new Set(domains)], ips: ips.list };
}

/** Whether `domain` (a DKIM d= value) is a listed domain or under one: a domain's owner controls its subdomains' keys. */
export function trustedDomain(sources: TrustedSources, domain: string): string | undefined {
  const d = domain.toLowerCase().replace(/\.$/, '');
  return sources.domains.find((t) => d === t || d.endsWith(`.${t}`));
}

export function trustedAddress(sources: TrustedSources, ip: string): boolean {
  return sources.ips.length > 0 && ipAllowed(sources.ips, ip);
}
