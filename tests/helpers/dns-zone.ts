import dns2 from 'dns2';
import type { AddressInfo } from 'node:net';

const { Packet } = dns2;

export interface ZoneEntry {
  cname?: string;
  txt?: string[][];
  ns?: string[];
}

export interface DnsZone {
  /** host:port for DNS_SERVERS. */
  server: string;
  zone: Map<string, ZoneEntry>;
  close(): Promise<void>;
}

/** A real DNS server on loopback (UDP) answering CNAME, TXT and NS from `zone`, NXDOMAIN for the rest. */
export async function startDnsZone(): Promise<DnsZone> {
  const zone = new Map<string, ZoneEntry>();
  const udp = dns2.createUDPServer((request: any, send: (r: any) => void) => {
    const response: any = Packet.createResponseFromRequest(request);
    const [q] = request.questions;
    const entry = q ? zone.get(String(q.name).toLowerCase().replace(/\.$/, '')) : undefined;
    if (!q || !entry) response.header.rcode = 3;
    else if (q.type === Packet.TYPE.CNAME && entry.cname) response.answers.push({ name: q.name, type: Packet.TYPE.CNAME, class: Packet.CLASS.IN, ttl: 60, domain: entry.cname });
    else if (q.type === Packet.TYPE.TXT && entry.txt) for (const data of entry.txt) response.answers.push({ name: q.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl: 60, data });
    else if (q.type === Packet.TYPE.NS && entry.ns) for (const ns of entry.ns) response.answers.push({ name: q.name, type: Packet.TYPE.NS, class: Packet.CLASS.IN, ttl: 60, ns });
    send(response);
  });
  await new Promise<void>((resolve) => {
    udp.once('listening', () => resolve());
    udp.bind(0, '127.0.0.1');
  });
  const port = (udp.address() as AddressInfo).port;
  return { server: `127.0.0.1:${port}`, zone, close: () => new Promise<void>((resolve) => udp.close(() => resolve())) };
}

/** Publishes a record list as the gateway gave it (`{Host, Type, Value}`). */
export function publish(zone: Map<string, ZoneEntry>, records: { Host: string; Type: string; Value: string }[]): void {
  for (const r of records) zone.set(r.Host, r.Type === 'CNAME' ? { cname: r.Value } : { txt: [r.Value.match(/.{1,255}/g)!] });
}
