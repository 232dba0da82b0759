/** TLS policies for recipient MX hosts, as Postfix's smtp_tls_security_level (docs/configuration.md, MX_TLS). */
export type MxTlsPolicy = 'may' | 'encrypt' | 'verify';

const POLICIES: readonly string[] = ['may', 'encrypt', 'verify'];

export function isMxTlsPolicy(value: string): value is MxTlsPolicy {
  return POLICIES.includes(value);
}

/**
 * MX_TLS_DOMAINS: `domain=policy,…`, where `example.com` is that domain only and `.example.com` each of its
 * subdomains (Postfix's policy-map convention). Returns the map from the name as written (lower case, leading dot
 * kept) to its policy; throws a sentence naming the bad entry.
 */
export function parseMxTlsDomains(raw: string | undefined): Record<string, MxTlsPolicy> {
  const out: Record<string, MxTlsPolicy> = {};
  for (const item of (raw ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^(\.?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9])=([a-z]+)$/i.exec(item);
    if (!m || !isMxTlsPolicy(m[2].toLowerCase()))
      throw new Error(`MX_TLS_DOMAINS entry "${item}" must be domain=may|encrypt|verify (.domain for its subdomains)`);
    out[m[1].toLowerCase()] = m[2].toLowerCase() as MxTlsPolicy;
  }
  return out;
}

/**
 * The policy for mail to `domain` (lower case): its own entry, else the entry of its nearest parent written with a
 * leading dot, else the install-wide MX_TLS.
 */
export function mxTlsFor(domain: string, byDomain: Record<string, MxTlsPolicy>, fallback: MxTlsPolicy): MxTlsPolicy {
  const own = byDomain[domain];
  if (own) return own;
  for (let i = domain.indexOf('.'); i >= 0; i = domain.indexOf('.', i + 1)) {
    const parent = byDomain[domain.slice(i)];
    if (parent) return parent;
  }
  return fallback;
}
