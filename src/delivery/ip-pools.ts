import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** One sending address of a pool: the local address its connections leave from, and the EHLO name its PTR gives. */
export interface SendingIp {
  address: string;
  hostname: string;
  family: 4 | 6;
}

/** SENDING_IP_POOLS by pool name (a Map: a pool called `constructor` must not find Object's). */
export type IpPools = ReadonlyMap<string, readonly SendingIp[]>;

/** A pool's name: short, and safe as a metrics label and in a reply. */
export const POOL_NAME = /^[a-z0-9_-]{1,32}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const EXAMPLE = '{"pool":[{"address":"203.0.113.10","hostname":"mta1.example.com"}]}';

/**
 * SENDING_IP_POOLS: a JSON object of pool name to a list of {address, hostname}. Throws a sentence naming the bad
 * part. The hostname is required, not MAIL_HOSTNAME by default: EHLO should match each address's reverse DNS.
 */
export function parseIpPools(raw: string | undefined): Map<string, SendingIp[]> {
  const pools = new Map<string, SendingIp[]>();
  if (raw === undefined || raw.trim() === '') return pools;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(`SENDING_IP_POOLS is not valid JSON (${(err as Error).message}); expected ${EXAMPLE}`, { cause: err });
  }
  if (!isObject(parsed)) throw new Error(`SENDING_IP_POOLS must be a JSON object of pool name to addresses, such as ${EXAMPLE}`);
  // One address, one reverse DNS name: the same address under two names would EHLO with a name its PTR does not give.
  const nameOf = new Map<string, string>();
  for (const [name, list] of Object.entries(parsed)) {
    if (!POOL_NAME.test(name)) throw new Error(`SENDING_IP_POOLS pool name "${name}" must be 1-32 of a-z, 0-9, _ and -`);
    if (!Array.isArray(list) || list.length === 0) throw new Error(`SENDING_IP_POOLS pool "${name}" must be a non-empty list of {"address","hostname"}`);
    const entries: SendingIp[] = [];
    for (const [i, item] of list.entries()) {
      const entry = sendingIp(`SENDING_IP_POOLS pool "${name}" entry ${i + 1}`, item);
      if (entries.some((e) => e.address === entry.address)) throw new Error(`SENDING_IP_POOLS pool "${name}" lists ${entry.address} twice`);
      const known = nameOf.get(entry.address);
      if (known !== undefined && known !== entry.hostname)
        throw new Error(`SENDING_IP_POOLS gives ${entry.address} two hostnames (${known}, ${entry.hostname}); an address has one reverse DNS name`);
      nameOf.set(entry.address, entry.hostname);
      entries.push(entry);
    }
    pools.set(name, entries);
  }
  return pools;
}

function sendingIp(where: string, item: unknown): SendingIp {
  if (!isObject(item)) throw new Error(`${where} must be {"address":"<IP>","hostname":"<name>"}`);
  for (const k of Object.keys(item)) if (k !== 'address' && k !== 'hostname') throw new Error(`${where}: unknown field "${k}" (address, hostname)`);
  const { address, hostname } = item;
  const family = typeof address === 'string' ? isIP(address) : 0;
  // A zone (fe80::1%eth0) is link-local, and 0.0.0.0 or :: is the OS default this setting exists to replace.
  if (family === 0 || (address as string).includes('%')) throw new Error(`${where}: address must be an IPv4 or IPv6 literal (got ${JSON.stringify(address)})`);
  const canonical = ipaddr.parse(address as string);
  if (canonical.range() === 'unspecified') throw new Error(`${where}: address ${address} is the unspecified address; give the one to send from`);
  if (canonical.kind() === 'ipv6' && (canonical as ipaddr.IPv6).isIPv4MappedAddress())
    throw new Error(`${where}: address ${address} is an IPv4-mapped IPv6 address; give the IPv4 address`);
  const name = typeof hostname === 'string' ? hostname.toLowerCase().replace(/\.$/, '') : '';
  if (!HOSTNAME.test(name)) throw new Error(`${where}: hostname must be a fully qualified host name (got ${JSON.stringify(hostname)})`);
  return { address: canonical.toString(), hostname: name, family: family as 4 | 6 };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** DEFAULT_IP_POOL: null (the OS default source and MAIL_HOSTNAME), or a pool SENDING_IP_POOLS names. */
export function parseDefaultPool(raw: string | undefined, pools: IpPools): string | null {
  const name = (raw ?? '').trim();
  if (name === '') return null;
  if (!pools.has(name)) throw new Error(`DEFAULT_IP_POOL "${name}" names no pool of SENDING_IP_POOLS (${[...pools.keys()].join(', ') || 'none configured'})`);
  return name;
}

/** The pool a connection is made from, and a number that spreads messages over its addresses. */
export interface PoolChoice {
  /** The sender domain's pool, else DEFAULT_IP_POOL; null: the OS default source and MAIL_HOSTNAME. */
  pool: string | null;
  /**
   * The delivery id plus its attempt number. Consecutive deliveries (a batch's ids follow each other) take the pool's
   * addresses in turn, and a retry takes the next address: a deferral caused by one address (a blocklist, a
   * receiver's per-IP limit) is not repeated from it every time, as a random pick could.
   */
  spread: number;
}

/** The pool's address for a connection to an address of `family`; undefined when the pool has none of that family. */
export function sourceFor(entries: readonly SendingIp[], family: number, spread: number): SendingIp | undefined {
  const fit = entries.filter((e) => e.family === family);
  return fit.length ? fit[Math.abs(spread) % fit.length] : undefined;
}
