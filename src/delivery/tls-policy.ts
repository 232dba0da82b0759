/** TLS policies for the next hop: recipient MX hosts (MX_TLS, MX_TLS_DOMAINS) and the smarthost (SMTP_RELAY_URL). */
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
 * MX_TLS_DOMAINS' entry for `domain` (lower case): its own, else that of its nearest parent written with a leading
 * dot; undefined when none names it (then MTA-STS, else MX_TLS, decides).
 */
export function mxTlsEntry(domain: string, byDomain: Record<string, MxTlsPolicy>): MxTlsPolicy | undefined {
  const own = byDomain[domain];
  if (own) return own;
  for (let i = domain.indexOf('.'); i >= 0; i = domain.indexOf('.', i + 1)) {
    const parent = byDomain[domain.slice(i)];
    if (parent) return parent;
  }
  return undefined;
}

/** SMTP_RELAY_URL's `?starttls=required` (an smtps:// URL is encrypted from the start anyway). */
export function relayRequiresTls(u: URL): boolean {
  return u.protocol === 'smtp:' && u.searchParams.get('starttls') === 'required';
}

/**
 * Why SMTP_RELAY_URL could send its password in clear, or null: an smtp:// smarthost off this host with credentials
 * and without `starttls=required` gets them in clear whenever STARTTLS is not offered (or stripped on the way).
 */
export function relayCredentialsRisk(relayUrl: string | null): string | null {
  if (!relayUrl) return null;
  const u = new URL(relayUrl);
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || u.hostname.startsWith('127.');
  if (u.protocol !== 'smtp:' || !u.username || loopback || relayRequiresTls(u)) return null;
  return 'SMTP_RELAY_URL logs in to an smtp:// smarthost without ?starttls=required: if STARTTLS is not offered (or is stripped on the way) its password goes in clear; add ?starttls=required or use smtps://';
}
