import type { Logger } from '../logger';
import type { UrlProblem } from './url-guard';

/**
 * What a tenant is told of a webhook call that failed: the outcome only. A connection error (refused at an address and
 * port, a timeout, a TLS fault) or what a name resolved to would let a tenant probe hosts from this network through
 * their webhook URL, so those go to the server log (logFailedCall) and the tenant sees one of these.
 */
export const CALL_REFUSED = 'address not allowed';
export const CALL_FAILED = 'the endpoint did not answer with 2xx';

/** The text stored and shown for a failed call: the HTTP status is the tenant's own endpoint's answer; anything else is generic. */
export function shownError(o: { status: number | null; refused: boolean }): string {
  if (o.refused) return CALL_REFUSED;
  return o.status !== null ? `HTTP ${o.status}` : CALL_FAILED;
}

/** The host and port of a webhook URL: its path and query may carry the receiver's token, and stay out of the log. */
export function endpointOf(url: string): { host: string; port: string } {
  const u = new URL(url);
  return { host: u.hostname, port: u.port || (u.protocol === 'https:' ? '443' : '80') };
}

/**
 * Logs a webhook URL refused at create or update, once: the account and domain (null for an account-wide
 * subscription), the URL's host and port (none when it does not parse), and why, with the detail the tenant is not
 * told (what the name resolved to, the resolver's error). A run of these is a tenant probing this network.
 */
export function logRefusedUrl(logger: Logger, url: string, problem: UrlProblem, fields: { userId: number; domainId: number | null }): void {
  let endpoint = {};
  try {
    endpoint = endpointOf(url.trim());
  } catch {
    // Not a URL: nothing of it is logged.
  }
  logger.warn('webhook URL refused', { ...fields, ...endpoint, kind: problem.kind, reason: problem.detail ?? problem.message });
}

/** Logs why a call failed, the detail the tenant is not shown, with the URL's host and port only. */
export function logFailedCall(logger: Logger, message: string, url: string, fields: Record<string, unknown>): void {
  logger.warn(message, { ...fields, ...endpointOf(url) });
}
