import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config';

/**
 * DNS for delivery to MX hosts, through DNS_SERVERS (else the system's resolvers): a domain's MX records (cached for
 * five minutes, RFC 5321's A fallback, null MX), the try order, and hosts' addresses.
 */
export class MxDns {
  /** Bounded: a worker that mails many domains keeps the answers of the most recent. */
  private readonly mxCache = new LRUCache<string, { mx: { exchange: string; priority: number }[]; until: number }>({ max: 10_000 });

  constructor(private readonly config: Pick<Config, 'dnsTimeoutMs' | 'dnsServers'>) {}

  resolver(): Resolver {
    const r = new Resolver({ timeout: this.config.dnsTimeoutMs, tries: 2 });
    if (this.config.dnsServers.length) r.setServers(this.config.dnsServers);
    return r;
  }

  /** The addresses of a host through the same resolvers as the MX lookup: its A records, else its AAAA records. */
  async addresses(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    const r = this.resolver();
    try {
      return await r.resolve4(host);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ENODATA' && code !== 'ENOTFOUND') throw err;
      return r.resolve6(host);
    }
  }

  async address(host: string): Promise<string> {
    return (await this.addresses(host))[0];
  }

  /** The domain's MX hosts to try, in preference order, those of equal preference in a random order each time (RFC 5321 §5.1). */
  async mxHosts(domain: string): Promise<string[]> {
    const mx = await this.mxRecords(domain);
    if (mx.length === 1) return [mx[0].exchange];
    return mx
      .map((m) => ({ m, draw: Math.random() }))
      .sort((a, b) => a.m.priority - b.m.priority || a.draw - b.draw)
      .map(({ m }) => m.exchange);
  }

  /** The domain's MX records in preference order (DNS order within one), cached for five minutes. */
  async mxRecords(domain: string): Promise<{ exchange: string; priority: number }[]> {
    let cached = this.mxCache.get(domain);
    if (!cached || cached.until <= Date.now()) {
      cached = { mx: (await this.lookupMx(domain)).sort((a, b) => a.priority - b.priority), until: Date.now() + 300_000 };
      this.mxCache.set(domain, cached);
    }
    return cached.mx;
  }

  private async lookupMx(domain: string): Promise<{ exchange: string; priority: number }[]> {
    try {
      const mx = (await this.resolver().resolveMx(domain)).map((m) => ({ exchange: m.exchange.replace(/\.$/, ''), priority: m.priority }));
      if (mx.length === 1 && mx[0].exchange === '') throw Object.assign(new Error('null MX'), { code: 'NULLMX' });
      return mx;
    } catch (err) {
      const code = (err as { code?: string }).code;
      // RFC 5321 §5.1: a domain with no MX records → its own address. A domain that does not exist (NXDOMAIN,
      // ENOTFOUND) has none either: that error goes up (no such domain, a hard bounce), as does a failure (SERVFAIL).
      if (code !== 'ENODATA') throw err;
      return [{ exchange: domain, priority: 0 }];
    }
  }
}
