import { Resolver } from 'node:dns/promises';
import type { DnsRecord } from './dns-records';

/** Answers that settle a lookup: the name does not exist, or has no record of the type. Anything else is our resolver's trouble. */
const DEFINITE = new Set(['ENOTFOUND', 'ENODATA']);

function bareName(s: string): string {
  return s.trim().toLowerCase().replace(/\.$/, '');
}

/** `k=v; k=v` tags of a DKIM/DMARC record, whitespace removed, tag names lowercase. */
function tags(txt: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of txt.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).replace(/\s+/g, ''));
  }
  return m;
}

/** Checks published records through a real resolver (DNS_SERVERS, or the system's). */
export class DnsVerifier {
  constructor(
    private readonly servers: string[],
    private readonly timeoutMs: number,
  ) {}

  private resolver(): Resolver {
    const r = new Resolver({ timeout: this.timeoutMs, tries: 2 });
    if (this.servers.length) r.setServers(this.servers);
    return r;
  }

  /** The name servers of the zone holding `name`: its own NS records, else its parent's (never the TLD's); [] on failure. */
  async nameservers(name: string): Promise<string[]> {
    const resolver = this.resolver();
    const labels = name.split('.');
    for (let i = 0; i <= labels.length - 2; i++) {
      const servers = await resolver.resolveNs(labels.slice(i).join('.')).catch(() => [] as string[]);
      if (servers.length) return servers.map(bareName).sort();
    }
    return [];
  }

  /**
   * Every record with `ok` set and `found` holding what DNS answered (CNAME targets or TXT strings; empty when
   * the name has none). Lookups run in parallel; a failed lookup is not ok, and marked `inconclusive` when DNS gave
   * no answer either way (the DNS watch does not count those as broken records).
   */
  async verify(records: DnsRecord[]): Promise<DnsRecord[]> {
    const resolver = this.resolver();
    return Promise.all(
      records.map(async (r) => {
        let inconclusive = false;
        const found = await this.lookup(resolver, r).catch((err: { code?: string }) => {
          inconclusive = !DEFINITE.has(String(err?.code));
          return [] as string[];
        });
        return inconclusive ? { ...r, ok: false, found, inconclusive } : { ...r, ok: this.matches(r, found), found };
      }),
    );
  }

  private async lookup(resolver: Resolver, r: DnsRecord): Promise<string[]> {
    if (r.type === 'CNAME') return resolver.resolveCname(r.host);
    return (await resolver.resolveTxt(r.host)).map((chunks) => chunks.join(''));
  }

  private matches(r: DnsRecord, found: string[]): boolean {
    if (r.type === 'CNAME') return found.some((t) => bareName(t) === bareName(r.value));
    if (r.purpose === 'dkim' || r.purpose === 'dkim-next' || r.purpose === 'dkim-previous') {
      const want = tags(r.value).get('p');
      return found.some((t) => {
        const got = tags(t);
        return got.get('p') === want && (got.get('v') ?? 'DKIM1').toUpperCase() === 'DKIM1';
      });
    }
    if (r.purpose === 'dmarc') return found.some((t) => /^v\s*=\s*DMARC1\s*(;|$)/i.test(t.trim()));
    return found.some((t) => t.replace(/\s+/g, ' ').trim() === r.value.replace(/\s+/g, ' ').trim());
  }
}
