import type { Config } from '../config';
import type { Logger } from '../logger';
import type { DnsRecord } from './dns-records';
import { DnsVerifier } from './dns-verify';

/**
 * Names reserved for testing, which no one can ever register: example.com/.net/.org and their subdomains
 * (RFC 2606 §3), and the .test, .example and .localhost top-level domains (RFC 2606 §2, RFC 6761 §6).
 */
export function isReservedTestName(host: string): boolean {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  return /(^|\.)example\.(com|net|org)$/.test(name) || /\.(test|example|localhost)$/.test(name);
}

/**
 * `postern dev` (what `npm start` runs): every role in one process, in development mode unless POSTERN_DEV says
 * otherwise or the environment is a production one (DATABASE_URL set or NODE_ENV=production), which always wins.
 * So a newcomer's `npm start` can verify a test domain and read captured mail, and a real deployment never does.
 */
export function devEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const production = !!env.DATABASE_URL || env.NODE_ENV === 'production';
  if (env.POSTERN_DEV !== undefined && env.POSTERN_DEV !== '') return env;
  return { ...env, POSTERN_DEV: production ? '0' : '1' };
}

/** Development mode applies only when asked for and never to a production deployment (checked again here). */
export function devModeActive(config: Pick<Config, 'devMode' | 'production' | 'databaseUrl'>): boolean {
  return config.devMode && !config.production && !config.databaseUrl;
}

/**
 * POSTERN_DEV=1: records on reserved test names count as published without a DNS query (a laptop has no DNS
 * to publish to); every other record is looked up as usual. Each such verification logs a warning.
 */
export class DevModeVerifier extends DnsVerifier {
  constructor(
    servers: string[],
    timeoutMs: number,
    private readonly logger: Logger,
  ) {
    super(servers, timeoutMs);
  }

  override async verify(records: DnsRecord[]): Promise<DnsRecord[]> {
    const reserved = records.map((r) => isReservedTestName(r.host));
    const looked = await super.verify(records.filter((_, i) => !reserved[i]));
    if (reserved.some(Boolean)) {
      this.logger.warn('development mode: records on a name reserved for testing verified WITHOUT DNS (POSTERN_DEV=1)', {
        hosts: records.filter((_, i) => reserved[i]).map((r) => r.host),
      });
    }
    return records.map((r, i) => (reserved[i] ? { ...r, ok: true } : looked.shift()!));
  }
}

/** The verifier for this process: DNS always, plus the reserved test names in development mode. */
export function domainVerifier(config: Config, logger: Logger): DnsVerifier {
  return devModeActive(config) ? new DevModeVerifier(config.dnsServers, config.dnsTimeoutMs, logger) : new DnsVerifier(config.dnsServers, config.dnsTimeoutMs);
}

/** What a process in development or capture mode says at start (stderr and log), so no one mistakes it for production. */
export function modeNotices(config: Config): string[] {
  const out: string[] = [];
  if (devModeActive(config)) {
    out.push(
      'DEVELOPMENT MODE (POSTERN_DEV=1): sender domains under example.com, example.net, example.org, .test, .example and .localhost are verified WITHOUT DNS. Never use it for a real deployment.',
    );
  }
  if (config.deliveryMode === 'capture') {
    const age = config.captureMaxAgeSeconds;
    const kept = age % 86400 === 0 ? `${age / 86400} days` : age % 3600 === 0 ? `${age / 3600} hours` : `${age} seconds`;
    out.push(
      `CAPTURE MODE (DELIVERY_MODE=capture): no message leaves this install; each is signed and kept (the newest ${config.captureMaxMessages}, for ${kept}). Read them at GET /api/v1/captured.`,
    );
  }
  return out;
}
