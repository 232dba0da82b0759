import net from 'node:net';
import { domainToASCII } from 'node:url';
import type { Config } from '../config';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const CUSTOM_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;

/**
 * A registrable host name in ASCII (IDN → punycode), lowercase, without a trailing dot;
 * null for anything that is not one (IP addresses, `localhost`, single labels, bad labels).
 */
export function normalizeDomain(input: string): string | null {
  const trimmed = input.trim().replace(/\.$/, '');
  if (!trimmed || trimmed.length > 253 || /[\s/@:]/.test(trimmed) || net.isIP(trimmed)) return null;
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (!ascii || ascii.length > 253) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  if (/^\d+$/.test(labels[labels.length - 1])) return null;
  if (ascii === 'localhost' || ascii.endsWith('.localhost') || ascii.endsWith('.local')) return null;
  return ascii;
}

/** Subdomain / TrackPrefix overrides: letters, digits, inner hyphens, at most 32. */
export function isValidCustomLabel(v: string): boolean {
  return CUSTOM_LABEL.test(v);
}

/** TrackMerge joins prefix and label: a hyphen, a dot (a separate DNS label) or nothing. */
export function isValidTrackMerge(v: string): boolean {
  return v === '' || v === '-' || v === '.';
}

export interface HostSettings {
  domain: string;
  subdomain: string | null;
  track_prefix: string | null;
  track_merge: string | null;
  track_prefix_disabled: boolean | number;
}

export interface DomainHosts {
  mfromHost: string;
  trackingHost: string;
}

/** MFROM `<Subdomain>.<domain>`; tracking `<TrackPrefix><TrackMerge><Subdomain>.<domain>` or the MFROM host. */
export function composeHosts(s: HostSettings, config: Pick<Config, 'mfromSubdomain' | 'trackPrefix' | 'trackMerge'>): DomainHosts {
  const label = (s.subdomain ?? config.mfromSubdomain).toLowerCase();
  const mfromHost = `${label}.${s.domain}`;
  if (s.track_prefix_disabled) return { mfromHost, trackingHost: mfromHost };
  const prefix = (s.track_prefix ?? config.trackPrefix).toLowerCase();
  const merge = s.track_merge ?? config.trackMerge;
  return { mfromHost, trackingHost: `${prefix}${merge}${label}.${s.domain}` };
}

/** The composed hosts must still be DNS names: a `-`-merged label can exceed 63 characters. */
export function hostsAreValid(h: DomainHosts): boolean {
  return [h.mfromHost, h.trackingHost].every((host) => host.length <= 253 && host.split('.').every((l) => LABEL.test(l)));
}
