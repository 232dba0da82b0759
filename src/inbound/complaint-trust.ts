import { Resolver } from 'node:dns/promises';
import type { DKIMResult, DNSResolver } from 'mailauth';
import type { Config } from '../config';
import { lazy } from '../lazy';
import type { InboundMail } from './mail';
import { trustedAddress, trustedDomain, TrustedSources } from './trusted-sources';

// Read at its first use, and only with COMPLAINT_TRUSTED_SOURCES set (src/lazy.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by import type
const mailauth = lazy(() => require('mailauth/lib/dkim/verify') as typeof import('mailauth/lib/dkim/verify'));

/** A TXT lookup as mailauth asks it: `(name, 'TXT')` → the record's strings. Injected by tests. */
export type DkimResolver = DNSResolver;

/** DKIM key lookups through DNS_SERVERS (else the system's resolvers), as the other lookups of Postern. */
export function dkimResolver(config: Pick<Config, 'dnsServers' | 'dnsTimeoutMs'>): DkimResolver {
  return async (name, type) => {
    const r = new Resolver({ timeout: config.dnsTimeoutMs, tries: 2 });
    if (config.dnsServers.length) r.setServers(config.dnsServers);
    if (type !== 'TXT') throw Object.assign(new Error(`no ${type} lookups for DKIM`), { code: 'ENOTFOUND' });
    return r.resolveTxt(name);
  };
}

/** Key lookups one report may cause: a real feedback report carries one or two signatures. */
const MAX_KEY_LOOKUPS = 4;

export type Verdict = { trusted: true; by: string } | { trusted: false; why: string; retry?: boolean };

/**
 * Whether a complaint comes from a trusted feedback loop (COMPLAINT_TRUSTED_SOURCES). Every recipient of a message
 * knows its VERP address and can write a complaint about it, so the address proves nothing about the reporter. What
 * does: a DKIM signature that verifies for a listed domain (Yahoo, Microsoft's JMRP, Comcast and other loops sign
 * their reports), since only that domain holds the key; its body hash covers the report part and the quoted message,
 * so a real report cannot be edited to name another delivery. A signature with `l=` covers only the start of the
 * body and could carry an appended part, so it does not count. A listed address covers an unsigned loop on a host
 * the operator runs (a smarthost's). Keys are looked up only under listed domains: a report signed by any other
 * domain costs no DNS query. A key lookup that fails for now (timeout, SERVFAIL) asks for a retry rather than
 * dropping a real complaint.
 */
export async function complaintVerdict(sources: TrustedSources, mail: InboundMail, resolver: DkimResolver): Promise<Verdict> {
  if (mail.remoteAddress && trustedAddress(sources, mail.remoteAddress)) return { trusted: true, by: `trusted address ${mail.remoteAddress}` };
  if (!sources.domains.length) return { trusted: false, why: `${mail.remoteAddress || 'the sender'} is not a trusted address` };
  let lookups = 0;
  const guarded: DkimResolver = (name, type) => {
    const domain = name.slice(name.indexOf('._domainkey.') + '._domainkey.'.length);
    if (!name.includes('._domainkey.') || !trustedDomain(sources, domain) || ++lookups > MAX_KEY_LOOKUPS) {
      return Promise.reject(Object.assign(new Error('not looked up'), { code: 'ENOTFOUND' }));
    }
    return resolver(name, type);
  };
  const { results } = await mailauth().dkimVerify(mail.raw, { resolver: guarded });
  const signed = results.filter((r) => r.signingDomain);
  for (const r of signed) {
    const listed = trustedDomain(sources, r.signingDomain);
    if (listed && r.status.result === 'pass' && !(r as DKIMResult & { canonBodyLengthLimited?: boolean }).canonBodyLengthLimited) {
      return { trusted: true, by: `DKIM signature of ${r.signingDomain}` };
    }
  }
  const said = signed.map((r) => `d=${r.signingDomain} ${r.status.result}${r.status.comment ? ` (${r.status.comment})` : ''}`).join(', ');
  const why = said ? `no DKIM signature of a trusted source verified: ${said}` : 'no DKIM signature';
  const retry = signed.some((r) => trustedDomain(sources, r.signingDomain) && r.status.result === 'temperror');
  const from = sources.ips.length ? `; ${mail.remoteAddress || 'the sender'} is not a trusted address` : '';
  return { trusted: false, why: `${why}${from}`.slice(0, 500), retry };
}
