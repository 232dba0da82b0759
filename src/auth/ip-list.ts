import ipaddr from 'ipaddr.js';

/**
 * Reads a list of IP addresses and CIDR ranges (comma/space separated, or an array) into canonical strings
 * (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`). Returns the offending item when one is neither.
 */
export function parseIpList(raw: unknown): { list: string[] } | { bad: string } {
  const items = (Array.isArray(raw) ? raw.map(String) : String(raw ?? '').split(/[\s,]+/)).map((s) => s.trim()).filter(Boolean);
  const list: string[] = [];
  for (const item of items) {
    try {
      if (item.includes('/')) {
        const [addr, bits] = ipaddr.parseCIDR(item);
        const mapped = addr.kind() === 'ipv6' && bits >= 96 && canonical(addr).kind() === 'ipv4';
        list.push(mapped ? `${canonical(addr).toString()}/${bits - 96}` : `${addr.toString()}/${bits}`);
      } else list.push(canonical(ipaddr.parse(item)).toString());
    } catch {
      return { bad: item };
    }
  }
  return { list: [...new Set(list)] };
}

/** IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as plain IPv4, so one rule covers both spellings of a client. */
function canonical(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

/** True when `ip` is one of the allowed addresses or inside one of the ranges (null = no restriction). */
export function ipAllowed(allowed: string[] | null, ip: string): boolean {
  if (allowed === null) return true;
  let client: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    client = canonical(ipaddr.parse(ip));
  } catch {
    return false;
  }
  return allowed.some((rule) => {
    const [a, bits] = rule.includes('/') ? ipaddr.parseCIDR(rule) : [ipaddr.parse(rule), client.kind() === 'ipv4' ? 32 : 128];
    return a.kind() === client.kind() && client.match(a, bits);
  });
}
