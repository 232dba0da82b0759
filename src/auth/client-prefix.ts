import ipaddr from 'ipaddr.js';

/**
 * A client as limits count it: an IPv4 address, or an IPv6 address's /64. One IPv6 host is usually given a whole
 * /64, so counting single addresses would let it start over from each of 2^64 of them (login and SMTP AUTH
 * throttles, the SMTP per-address connection cap). Like IPv4 behind NAT, hosts that share a /64 share the count.
 */
export function clientPrefix(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const a = ipaddr.process(ip);
  if (a.kind() === 'ipv4') return a.toString();
  const parts = (a as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}
