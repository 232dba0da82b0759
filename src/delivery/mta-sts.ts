import https from 'node:https';
import { LRUCache } from 'lru-cache';
import { refusedAddress } from '../webhooks/url-guard';

/**
 * MTA-STS (RFC 8461), the sending side: a recipient domain that publishes `_mta-sts.<domain>` TXT and a policy at
 * https://mta-sts.<domain>/.well-known/mta-sts.txt asks senders to use only the MX hosts it names, over TLS with a
 * certificate valid for the host. Written here rather than taken from mailauth (whose lib/mta-sts parses the same
 * format): its fetch reads a body of any size from any address, its `*.` pattern also matches deeper names, and it
 * would bring a second nodemailer, undici, joi and yargs into production for some forty lines of parsing.
 */
export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  id: string;
  mode: StsMode;
  /** MX patterns as published: a host name, or `*.` and a parent (one leftmost label). */
  mx: string[];
  /** When the cached policy stops applying (fetch time + max_age). */
  expiresAt: number;
  /** When it is fetched again though its id is unchanged (in memory only), so a policy in use never simply lapses. */
  refreshAt?: number;
}

/** Where policies outlive the process (mta-sts-store.ts); `now` is the caller's clock. */
export interface StsStore {
  /** The domain's policy if one is kept and not expired at `now`. */
  get(domain: string, now: number): Promise<StsPolicy | null>;
  put(domain: string, policy: StsPolicy, now: number): Promise<void>;
}

export interface MtaStsDeps {
  /** TXT records of a name, each as its character-strings (node:dns's shape). */
  txt(name: string): Promise<string[][]>;
  /** The address a host name resolves to, through the resolvers MX lookups use. */
  address(host: string): Promise<string>;
  port: number;
  /** CAs a policy host's certificate may chain to; undefined: Node's own. */
  ca?: string[];
  allowPrivate: boolean;
  timeoutMs: number;
  /** Policies kept beyond this process; without one they live in its memory only. */
  store?: StsStore;
  now?: () => number;
}

/** RFC 8461 §3.2: a policy body is small; a bigger answer is not a policy. */
const MAX_POLICY_BYTES = 64 * 1024;
/** RFC 8461 §3.2: max_age is at most 31557600 s (about a year). */
const MAX_AGE_S = 31_557_600;
/** How long the TXT id is trusted before it is looked up again: as MX answers are cached. */
const RECHECK_MS = 300_000;
/** A policy in use is fetched again at least daily (halfway through a shorter max_age), its id unchanged or not. */
const REFRESH_MS = 86_400_000;

/** The `id` of the one `v=STSv1` TXT record, or null when there is none (several are an error, §3.1). */
export function parseStsRecord(records: string[][]): string | null {
  const sts = records.map((r) => r.join('')).filter((r) => /^v=STSv1\s*(;|$)/.test(r));
  if (sts.length > 1) throw new Error('more than one v=STSv1 record');
  if (!sts.length) return null;
  const id = /(?:^|;)\s*id=([A-Za-z0-9]{1,32})\s*(?:;|$)/.exec(sts[0])?.[1];
  if (!id) throw new Error('the v=STSv1 record has no valid id');
  return id;
}

/** A policy body (§3.2) as its mode, MX patterns and max_age; throws a sentence when it is not a valid STSv1 policy. */
export function parseStsPolicy(body: string): { mode: StsMode; mx: string[]; maxAgeS: number } {
  const fields = new Map<string, string[]>();
  for (const line of body.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    fields.set(key, [...(fields.get(key) ?? []), line.slice(colon + 1).trim()]);
  }
  if (fields.get('version')?.[0] !== 'STSv1') throw new Error('version is not STSv1');
  const mode = fields.get('mode')?.[0];
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') throw new Error('mode is not enforce, testing or none');
  const age = fields.get('max_age')?.[0] ?? '';
  if (!/^\d{1,10}$/.test(age)) throw new Error('max_age is not a number of seconds');
  const mx = [...new Set((fields.get('mx') ?? []).map((m) => m.toLowerCase().replace(/\.$/, '')))].filter(Boolean);
  if (mode !== 'none' && !mx.length) throw new Error('no mx line');
  return { mode, mx, maxAgeS: Math.min(Number(age), MAX_AGE_S) };
}

/** §4.1: `mail.example.com` matches itself only; `*.example.com` matches one more label (not deeper, not itself). */
export function stsMxMatches(host: string, patterns: string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => {
    if (!p.startsWith('*.')) return p === h;
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  });
}

/**
 * The policies of recipient domains: in this process's memory, and in `store` so a restart forgets none. A policy
 * applies until its max_age passes, even
 * when a later TXT lookup or fetch fails or the TXT record is gone (§5.1: otherwise an attacker who blocks those
 * would switch it off). A changed id fetches the policy again, and so does the same id at least daily (which moves
 * its max_age on); the TXT record is looked up at most every 5 minutes.
 * Without a cached policy, any failure means no policy (the mail goes as it would without MTA-STS).
 */
export class MtaSts {
  private readonly policies = new LRUCache<string, StsPolicy>({ max: 10_000 });
  private readonly checkedUntil = new LRUCache<string, number>({ max: 10_000 });
  private readonly pending = new Map<string, Promise<StsPolicy | null>>();
  private readonly now: () => number;

  constructor(private readonly deps: MtaStsDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The policy that applies to mail for `domain` (lower case) now, or null. Never throws. */
  async policyFor(domain: string): Promise<StsPolicy | null> {
    // A lookup under way is waited for: a burst of mail to a new domain must not go out before its policy is known.
    const pending = this.pending.get(domain);
    if (pending) return pending;
    const cached = this.current(domain);
    if ((this.checkedUntil.get(domain) ?? 0) > this.now()) return cached;
    const p = this.refresh(domain, cached).finally(() => this.pending.delete(domain));
    this.pending.set(domain, p);
    return p;
  }

  private current(domain: string): StsPolicy | null {
    const p = this.policies.get(domain);
    return p && p.expiresAt > this.now() ? p : null;
  }

  private async refresh(domain: string, known: StsPolicy | null): Promise<StsPolicy | null> {
    this.checkedUntil.set(domain, this.now() + RECHECK_MS);
    // Not in memory: perhaps kept by an earlier process (a store that fails counts as none: fetched again below).
    const stored = known ? null : await this.deps.store?.get(domain, this.now()).catch(() => null);
    const cached = known ?? (stored ? { ...stored, refreshAt: this.refreshAfter(stored.expiresAt - this.now()) } : null);
    if (cached && !known) this.policies.set(domain, cached);
    // A policy in use is fetched again once its refresh time has come (§10.2), its id unchanged, and also when the TXT
    // lookup fails or finds nothing: else it lapses at max_age, and an attacker who blocks that lookup for as long
    // then finds the domain unprotected.
    const due = cached !== null && this.now() >= (cached.refreshAt ?? 0);
    let id: string | null;
    try {
      id = parseStsRecord(await this.deps.txt(`_mta-sts.${domain}`).catch(noRecords));
    } catch {
      id = null;
    }
    if (!due && (!id || id === cached?.id)) return cached;
    try {
      const policy = parseStsPolicy(await this.fetch(`mta-sts.${domain}`));
      const maxAgeMs = policy.maxAgeS * 1000;
      const fresh: StsPolicy = {
        id: id ?? cached!.id,
        mode: policy.mode,
        mx: policy.mx,
        expiresAt: this.now() + maxAgeMs,
        refreshAt: this.refreshAfter(maxAgeMs),
      };
      this.policies.set(domain, fresh);
      await this.deps.store?.put(domain, fresh, this.now()).catch(() => undefined); // memory still has it
      return fresh;
    } catch {
      return cached;
    }
  }

  /** When a policy with this long left to live is fetched again: halfway, or after a day for a longer-lived one. */
  private refreshAfter(lifeMs: number): number {
    return this.now() + Math.min(REFRESH_MS, Math.max(0, lifeMs) / 2);
  }

  /** The policy body over HTTPS: a certificate valid for the host, status 200 only (no redirects), at most 64 KiB. */
  private async fetch(host: string): Promise<string> {
    const ip = await this.deps.address(host);
    const refused = refusedAddress(ip, this.deps.allowPrivate);
    if (refused) throw new Error(`${host}: ${refused}`);
    return new Promise((resolve, reject) => {
      const req = https.get(
        {
          host: ip,
          port: this.deps.port,
          path: '/.well-known/mta-sts.txt',
          servername: host,
          headers: { host },
          ca: this.deps.ca,
          rejectUnauthorized: true,
          agent: false,
          timeout: this.deps.timeoutMs,
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_POLICY_BYTES) req.destroy(new Error('policy larger than 64 KiB'));
            else chunks.push(c);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
        },
      );
      // The whole fetch, not only idle time: a host that trickles bytes must not hold the delivery.
      const deadline = setTimeout(() => req.destroy(new Error('policy fetch timed out')), this.deps.timeoutMs);
      req.on('timeout', () => req.destroy(new Error('policy fetch timed out')));
      req.on('error', reject);
      req.on('close', () => clearTimeout(deadline));
    });
  }
}

function noRecords(err: { code?: string }): string[][] {
  if (err.code === 'ENODATA' || err.code === 'ENOTFOUND') return [];
  throw err;
}
