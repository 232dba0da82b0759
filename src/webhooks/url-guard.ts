import dns from 'node:dns';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * SSRF guard for webhook URLs. A URL is checked when it is registered and again before every attempt, on the
 * addresses its host resolves to at that moment; the attempt then connects to the address that was checked
 * (see pinnedLookup), so a DNS answer that changes between check and connect (rebinding) cannot redirect it.
 */
export interface Address {
  address: string;
  family: 4 | 6;
}

export type Resolve = (host: string) => Promise<Address[]>;

/** malformed: not a URL at all · scheme: not http(s), or carries credentials · host: a refused destination. */
export interface UrlProblem {
  kind: 'malformed' | 'scheme' | 'host';
  message: string;
  /** Longer than MAX_URL_LENGTH: the doors answer it as their schema answers an over-long parameter. */
  tooLong?: true;
  /** For the server log only, where `message` is kept general: what the name resolved to, or the resolver's error. */
  detail?: string;
}

export type Vetted = { ok: true; url: URL; addresses: Address[] } | { ok: false; problem: UrlProblem };

export const MAX_URL_LENGTH = 2048;

/**
 * Instance metadata and host agent services: refused even when WEBHOOK_ALLOW_PRIVATE is on (never a webhook receiver).
 * Azure's WireServer (168.63.129.16) is a public address, so the private-range check alone let it through; Oracle
 * Cloud's legacy metadata address is 192.0.0.192; Google Cloud's IPv6 one is fd20:ce::254.
 */
const METADATA_ADDRESSES = new Set(['169.254.169.254', '169.254.170.2', '100.100.100.200', 'fd00:ec2::254', 'fd20:ce::254', '168.63.129.16', '192.0.0.192']);
const METADATA_NAMES = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

type SystemLookup = (host: string) => Promise<{ address: string; family: number }[]>;
const systemLookup: SystemLookup = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/**
 * The resolver the rest of Postern uses (DNS_SERVERS), or the system's (with /etc/hosts) when none is configured.
 * The system's lookup (getaddrinfo) has no timeout of its own: a name whose servers never answer held a webhook
 * create, ping or attempt for as long as the OS kept trying, so it gets the resolver's deadline (two tries of
 * DNS_TIMEOUT_MS). getaddrinfo cannot be cancelled: the lookup may go on in a libuv thread, but its caller is answered.
 */
export function resolverFor(config: { dnsServers: string[]; dnsTimeoutMs: number }, lookup: SystemLookup = systemLookup): Resolve {
  if (!config.dnsServers.length) {
    const deadlineMs = 2 * config.dnsTimeoutMs;
    return async (host) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`no answer in ${deadlineMs} ms`), { code: 'ETIMEOUT' })), deadlineMs);
      });
      try {
        const found = await Promise.race([lookup(host), late]);
        return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
      } finally {
        clearTimeout(timer);
      }
    };
  }
  return async (host) => {
    const r = new Resolver({ timeout: config.dnsTimeoutMs, tries: 2 });
    r.setServers(config.dnsServers);
    const [v4, v6] = await Promise.allSettled([r.resolve4(host), r.resolve6(host)]);
    const out: Address[] = [];
    if (v4.status === 'fulfilled') out.push(...v4.value.map((address) => ({ address, family: 4 as const })));
    if (v6.status === 'fulfilled') out.push(...v6.value.map((address) => ({ address, family: 6 as const })));
    if (!out.length) throw v4.status === 'rejected' ? v4.reason : new Error(`${host} has no A or AAAA record`);
    return out;
  };
}

/** Syntax only: a parseable http(s) URL with a host and no user:password part. */
export function parseWebhookUrl(raw: string): URL | UrlProblem {
  const text = raw.trim();
  const tooLong = { kind: 'malformed', message: `WebhookURL must be at most ${MAX_URL_LENGTH} characters`, tooLong: true } as const;
  if (text.length > MAX_URL_LENGTH) return tooLong;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { kind: 'malformed', message: 'WebhookURL is not a valid URL' };
  }
  // The normalised form is what is stored (varchar 2048) and called: percent-encoding can make it many times longer.
  if (url.href.length > MAX_URL_LENGTH) return { ...tooLong, message: `${tooLong.message} once non-ASCII characters are percent-encoded` };
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { kind: 'scheme', message: 'Webhook URL must be a valid HTTP or HTTPS URL.' };
  if (url.username || url.password) return { kind: 'scheme', message: 'Webhook URL must not contain a user name or password' };
  if (!url.hostname) return { kind: 'malformed', message: 'WebhookURL has no host' };
  return url;
}

/** The URL's host without IPv6 brackets or a trailing dot, lowercase. */
export function bareHost(url: URL): string {
  return url.hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

function refusedName(host: string, allowPrivate: boolean): string | null {
  if (METADATA_NAMES.has(host)) return `${host} is a cloud metadata service`;
  if (allowPrivate) return null;
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is this machine`;
  if (host.endsWith('.local') || host.endsWith('.internal') || host.endsWith('.home.arpa')) return `${host} is a private network name`;
  if (!host.includes('.') && net.isIP(host) === 0) return `${host} is not a public host name`;
  return null;
}

/**
 * An IPv4-compatible IPv6 address (`::a.b.c.d`, deprecated by RFC 4291) as its IPv4 address: ipaddr.js judges
 * `::127.0.0.1` as IPv4 but the same address written `::7f00:1` as ordinary unicast. `::` and `::1` stay IPv6.
 */
function ipv4Compatible(ip: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  if (ip.kind() !== 'ipv6') return ip;
  const parts = (ip as ipaddr.IPv6).parts;
  if (parts.slice(0, 6).some((p) => p !== 0) || (parts[6] === 0 && parts[7] <= 1)) return ip;
  return ipaddr.IPv4.parse(`${parts[6] >> 8}.${parts[6] & 255}.${parts[7] >> 8}.${parts[7] & 255}`);
}

/**
 * The IPv4 addresses an IPv6 address carries for a translator or tunnel to reach: NAT64 (64:ff9b::/96 and
 * 64:ff9b:1::/48, the last 32 bits), SIIT (::ffff:0:0:0/96), 6to4 (2002::/16, bits 16-47) and Teredo (2001::/32, the client's address
 * inverted in the last 32 bits). With private addresses allowed, these are how a metadata address is still reached.
 */
function embeddedIPv4(ip: ipaddr.IPv4 | ipaddr.IPv6): string[] {
  if (ip.kind() !== 'ipv6') return [];
  const p = (ip as ipaddr.IPv6).parts;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (p[0] === 0x64 && p[1] === 0xff9b) return [v4(p[6], p[7])];
  // SIIT's IPv4-translated form (::ffff:0:a.b.c.d, RFC 2765), which ipaddr.js does not read as IPv4.
  if (p.slice(0, 4).every((x) => x === 0) && p[4] === 0xffff && p[5] === 0) return [v4(p[6], p[7])];
  if (p[0] === 0x2002) return [v4(p[1], p[2])];
  if (p[0] === 0x2001 && p[1] === 0) return [v4(~p[6] & 0xffff, ~p[7] & 0xffff)];
  return [];
}

/** Why an address may not be a webhook destination, or null when it may. Only public unicast passes. */
export function refusedAddress(address: string, allowPrivate: boolean): string | null {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const ip = ipv4Compatible(ipaddr.process(address)); // ::ffff:a.b.c.d and ::a.b.c.d are judged as a.b.c.d
  const plain = ip.toString();
  if (METADATA_ADDRESSES.has(plain) || METADATA_ADDRESSES.has(ipaddr.parse(address).toString())) return `${plain} is a cloud metadata address`;
  const carried = embeddedIPv4(ip).find((v4) => METADATA_ADDRESSES.has(v4));
  if (carried) return `${plain} reaches the cloud metadata address ${carried}`;
  if (allowPrivate) return null;
  const range = ip.range();
  return range === 'unicast' ? null : `${plain} is a ${range} address`;
}

/**
 * Checks a URL and the addresses its host resolves to now. Every address must pass: a name that resolves to
 * one public and one private address is refused.
 */
export async function vetWebhookUrl(raw: string, opts: { allowPrivate: boolean; resolve: Resolve }): Promise<Vetted> {
  const url = parseWebhookUrl(raw);
  if (!(url instanceof URL)) return { ok: false, problem: url };
  const host = bareHost(url);
  const byName = refusedName(host, opts.allowPrivate);
  if (byName) return { ok: false, problem: { kind: 'host', message: `Webhook URL host is not allowed: ${byName}` } };
  // A name that fails to resolve and one that resolves to a refused address get the same answer: told apart, they
  // told a tenant which internal names this network's DNS holds. The message still says what a tenant can fix.
  const wanted = opts.allowPrivate ? 'an address webhooks may be sent to' : 'a public address (it needs a public DNS A or AAAA record)';
  const notPublic = (detail: string): Vetted => ({
    ok: false,
    problem: { kind: 'host', message: `Webhook URL host is not allowed: ${host} does not resolve to ${wanted}`, detail },
  });
  let addresses: Address[];
  if (net.isIP(host)) addresses = [{ address: host, family: net.isIP(host) === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await opts.resolve(host);
    } catch (err) {
      return notPublic(`does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (!addresses.length) return notPublic('does not resolve (no address)');
  }
  for (const a of addresses) {
    const why = refusedAddress(a.address, opts.allowPrivate);
    if (!why) continue;
    // An address the tenant wrote is theirs to be told about; what a name resolved to stays in the log.
    return net.isIP(host) ? { ok: false, problem: { kind: 'host', message: `Webhook URL host is not allowed: ${why}` } } : notPublic(why);
  }
  return { ok: true, url, addresses };
}

/** A `lookup` for http(s).request that answers with the already checked address, whatever DNS says now. */
export function pinnedLookup(pinned: Address): net.LookupFunction {
  return ((_host: string, options: dns.LookupOptions, cb: (...args: unknown[]) => void) => {
    if (options?.all) cb(null, [{ address: pinned.address, family: pinned.family }]);
    else cb(null, pinned.address, pinned.family);
  }) as unknown as net.LookupFunction;
}
