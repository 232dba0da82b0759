import type { Socket } from 'node:net';
import dns2 from 'dns2';

const { Packet } = dns2;

/** One name's records: a CNAME target, or TXT values as the lists of <character-string>s that go on the wire. */
export interface ZoneEntry {
  cname?: string;
  txt?: string[][];
  /** Name servers of a zone (NS answers). */
  ns?: string[];
  /** Mail exchangers (MX answers) and IPv4 addresses (A answers), for DELIVERY_MODE=mx. */
  mx?: { exchange: string; priority: number }[];
  a?: string[];
  /** A answers one list per A question in turn, the last repeated: a name that resolves elsewhere at its next lookup. */
  aTurns?: string[][];
  /** Answer every question for this name with this response code instead (2 = SERVFAIL: a broken server). */
  rcode?: number;
  /** The response code for its address questions only (A, AAAA): 3 makes the name vanish between two lookups. */
  addressRcode?: number;
}

export interface DnsZone {
  port: number;
  zone: Map<string, ZoneEntry>;
  /** Every question asked, as `TXT name` (a UDP answer too large is asked again over TCP: two lines). */
  queries: string[];
  close(): Promise<void>;
}

/** A TXT value cut into character-strings of at most `size` bytes (a single one may not exceed 255). */
export function chunks(value: string, size = 255): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += size) out.push(value.slice(i, i + size));
  return out;
}

/**
 * A real DNS server in-process on 127.0.0.1, UDP and TCP on one port: every name in `zone`, NXDOMAIN for the
 * rest. UDP answers are capped at 512 bytes; a larger one (a DKIM key beside another TXT record) comes back
 * truncated and the resolver retries over TCP on the same port, as it would against a real server.
 */
export async function startDnsZone(opts: { /** of every answer, in seconds */ ttl?: number } = {}): Promise<DnsZone> {
  const ttl = opts.ttl ?? 60;
  const zone = new Map<string, ZoneEntry>();
  const queries: string[] = [];
  const handle = (request: any, send: (response: any) => void): void => {
    const response: any = Packet.createResponseFromRequest(request);
    const [q] = request.questions;
    const name = q ? String(q.name).toLowerCase().replace(/\.$/, '') : '';
    if (q) queries.push(`${Object.entries(Packet.TYPE as Record<string, number>).find(([, n]) => n === q.type)?.[0] ?? q.type} ${name}`);
    const entry = q ? zone.get(name) : undefined;
    if (!q || !entry) {
      response.header.rcode = 3; // NXDOMAIN
    } else if (entry.rcode !== undefined) {
      response.header.rcode = entry.rcode;
    } else if (entry.addressRcode !== undefined && (q.type === Packet.TYPE.A || q.type === Packet.TYPE.AAAA)) {
      response.header.rcode = entry.addressRcode;
    } else if (q.type === Packet.TYPE.CNAME && entry.cname) {
      response.answers.push({ name: q.name, type: Packet.TYPE.CNAME, class: Packet.CLASS.IN, ttl, domain: entry.cname });
    } else if (q.type === Packet.TYPE.TXT && entry.txt) {
      for (const strings of entry.txt) response.answers.push({ name: q.name, type: Packet.TYPE.TXT, class: Packet.CLASS.IN, ttl, data: strings });
    } else if (q.type === Packet.TYPE.NS && entry.ns) {
      for (const ns of entry.ns) response.answers.push({ name: q.name, type: Packet.TYPE.NS, class: Packet.CLASS.IN, ttl, ns });
    } else if (q.type === Packet.TYPE.MX && entry.mx) {
      for (const m of entry.mx)
        response.answers.push({ name: q.name, type: Packet.TYPE.MX, class: Packet.CLASS.IN, ttl, exchange: m.exchange, priority: m.priority });
    } else if (q.type === Packet.TYPE.A && (entry.aTurns || entry.a)) {
      const turns = entry.aTurns;
      const addresses = turns ? (turns.length > 1 ? turns.shift()! : turns[0]) : entry.a!;
      for (const address of addresses) response.answers.push({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl, address });
    }
    send(response);
  };
  let udp: ReturnType<typeof dns2.createUDPServer>;
  let tcp: ReturnType<typeof dns2.createTCPServer>;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    udp = dns2.createUDPServer(handle as any);
    await udp.listen(0, '127.0.0.1');
    port = udp.address().port;
    tcp = dns2.createTCPServer(handle as any);
    const bound = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) break;
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (attempt === 4) throw new Error('could not bind the test DNS server on one port for UDP and TCP');
  }
  const sockets = new Set<Socket>();
  tcp.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    port,
    zone,
    queries,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    },
  };
}

/** Publishes a record list as the gateway gave it (`{Host, Type, Value}`). */
export function publish(zone: Map<string, ZoneEntry>, records: { Host: string; Type: string; Value: string }[]): void {
  for (const r of records) zone.set(r.Host, r.Type === 'CNAME' ? { cname: r.Value } : { txt: [chunks(r.Value)] });
}
