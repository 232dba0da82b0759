/** Which DNS provider hosts a zone, told from its name servers (user.senderdomain.dnshost). */
const PROVIDERS: [RegExp, string][] = [
  [/\.ns\.cloudflare\.com$/, 'Cloudflare'],
  [/\.awsdns-\d+\.(com|net|org|co\.uk)$/, 'Route 53'],
  [/\.domaincontrol\.com$/, 'GoDaddy'],
  [/\.registrar-servers\.com$/, 'Namecheap'],
  [/\.digitalocean\.com$/, 'DigitalOcean'],
  [/\.gandi\.net$/, 'Gandi'],
  [/\.ovh\.(net|ca)$/, 'OVH'],
  [/\.bluehost\.com$/, 'Bluehost'],
  [/\.hostgator\.com$/, 'HostGator'],
  [/\.name-services\.com$/, 'eNom'],
  [/\.dynadot\.com$/, 'Dynadot'],
  [/\.azure-dns\.(com|net|org|info)$/, 'Azure DNS'],
  [/^ns-cloud-[a-z]\d\.googledomains\.com$/, 'Google Cloud DNS'],
  [/\.googledomains\.com$/, 'Google Domains'],
  [/\.hover\.com$/, 'Hover'],
  [/\.dreamhost\.com$/, 'DreamHost'],
  [/\.linode\.com$/, 'Linode'],
];

/** The provider every name server points to, or 'unknown' (none, or servers of different providers). */
export function dnsHostOf(nameservers: string[]): string {
  const names = new Set(nameservers.map((ns) => PROVIDERS.find(([re]) => re.test(ns.toLowerCase()))?.[1] ?? 'unknown'));
  return names.size === 1 ? [...names][0] : 'unknown';
}
