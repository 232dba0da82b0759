import { domainToASCII } from 'node:url';
import { ipAllowed, parseIpList } from '../auth/ip-list';
import { lazy } from '../lazy';

// At the first signed report from a listed reporter address (src/lazy.ts): tldts parses its Public Suffix List as it
// loads (~10 ms, 1.6 MB), and the config imports this file in every process, most never reading a report.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by typeof import
const tldts = lazy(() => require('tldts') as typeof import('tldts'));

/**
 * COMPLAINT_TRUSTED_SOURCES read. Domains are ASCII and lowercase; reporter addresses a lowercase local part and an
 * ASCII domain.
 */
export interface TrustedSources {
  /** `fbl.example.net`: a signature with exactly this d= (a domain that signs nothing but feedback reports). */
  domains: string[];
  /** `.fbl.example.net` (kept without the dot): a signature with this d= or one under it. */
  domainTrees: string[];
  /** `feedback@fbl.example.net`: the report's one From is this address, signed by its domain or a parent (reporterSigners). */
  reporters: string[];
  /** Addresses and CIDR ranges, matched against the TCP peer of the intake. */
  ips: string[];
}

const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$/;
/** A reporter's local part: a dot-atom, as feedback loops' addresses are (no quoted forms, no comments). */
const LOCAL_PART = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

const asciiDomain = (d: string): string | null => {
  const ascii = domainToASCII(d.toLowerCase().replace(/\.$/, ''));
  return DOMAIN.test(ascii) ? ascii : null;
};

/**
 * Reads `feedback@fbl.example.net, fbl.example.org, .fbl.example.com, 192.0.2.25, 10.1.0.0/16` (commas or spaces):
 * an item with an `@` is a reporter address; of digits and dots, or with a colon or a slash, an address or range;
 * with a leading dot a domain and its subdomains; anything else one signing domain. Empty = null, the setting off.
 */
export function parseTrustedSources(raw: string | undefined): TrustedSources | { bad: string } | null {
  const items = (raw ?? '').split(/[\s,]+/).filter(Boolean);
  if (!items.length) return null;
  const domains: string[] = [];
  const domainTrees: string[] = [];
  const reporters: string[] = [];
  const addresses: string[] = [];
  for (const item of items) {
    const at = item.lastIndexOf('@');
    if (at >= 0) {
      const local = item.slice(0, at).toLowerCase();
      const domain = asciiDomain(item.slice(at + 1));
      if (!LOCAL_PART.test(local) || !domain) return { bad: item };
      reporters.push(`${local}@${domain}`);
      continue;
    }
    if (/[:/]|^[\d.]+$/.test(item)) {
      addresses.push(item);
      continue;
    }
    const tree = item.startsWith('.');
    const domain = asciiDomain(tree ? item.slice(1) : item);
    if (!domain) return { bad: item };
    (tree ? domainTrees : domains).push(domain);
  }
  const ips = parseIpList(addresses);
  if ('bad' in ips) return { bad: ips.bad };
  return { domains: [...new Set(domains)], domainTrees: [...new Set(domainTrees)], reporters: [...new Set(reporters)], ips: ips.list };
}

/** A d= value as compared: ASCII, lowercase, without a final dot. */
export function signingDomain(d: string): string {
  const plain = d.trim().toLowerCase().replace(/\.$/, '');
  return domainToASCII(plain) || plain;
}

/**
 * The domains that may sign for a reporter address: its own and each parent up to its organizational domain by the
 * Public Suffix List, private suffixes included (`feedback@fbl.example.co.uk` → fbl.example.co.uk, example.co.uk;
 * never co.uk; `x@isp.blogspot.com` → isp.blogspot.com only), as DMARC's relaxed alignment. A TLD the list does not
 * know counts as a suffix of one label (the list's default rule, DMARC's too), so `fbl.corp.internal` may be signed by
 * corp.internal. A host with no registrable domain (a suffix itself, or an IP literal, which parsing already refuses)
 * may be signed by its own name only.
 */
export function reporterSigners(reporter: string): string[] {
  const host = reporter.slice(reporter.lastIndexOf('@') + 1);
  const org = tldts().getDomain(host, { allowPrivateDomains: true, extractHostname: false });
  if (!org || (host !== org && !host.endsWith(`.${org}`))) return [host];
  const labels = host.split('.');
  const out: string[] = [];
  for (let i = 0; i <= labels.length - org.split('.').length; i++) out.push(labels.slice(i).join('.'));
  return out;
}

/** The entry a signature with this d= can count for by its domain alone (a bare domain or a `.domain` entry). */
export function trustedDomain(sources: TrustedSources, d: string): string | undefined {
  const domain = signingDomain(d);
  if (sources.domains.includes(domain)) return domain;
  const tree = sources.domainTrees.find((t) => domain === t || domain.endsWith(`.${t}`));
  return tree === undefined ? undefined : `.${tree}`;
}

/** The reporter addresses a signature with this d= can count for (with a From of that address). */
export function reportersSignedBy(sources: TrustedSources, d: string): string[] {
  const domain = signingDomain(d);
  return sources.reporters.filter((r) => reporterSigners(r).includes(domain));
}

/** Whether any entry could count a signature with this d=: only such signatures are verified, their keys looked up. */
export function listedSigner(sources: TrustedSources, d: string): boolean {
  return trustedDomain(sources, d) !== undefined || reportersSignedBy(sources, d).length > 0;
}

/** Whether any entry is verified by DKIM (a domain, a `.domain` or a reporter address). */
export function hasSigners(sources: TrustedSources): boolean {
  return sources.domains.length + sources.domainTrees.length + sources.reporters.length > 0;
}

export function trustedAddress(sources: TrustedSources, ip: string): boolean {
  return sources.ips.length > 0 && ipAllowed(sources.ips, ip);
}
