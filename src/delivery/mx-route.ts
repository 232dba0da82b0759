import fs from 'node:fs';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { Config, ConfigError } from '../config';
import type { Limits } from '../throttle/rules';
import { refusedAddress } from '../webhooks/url-guard';
import { answeredBeforeTls, handshakeFailed, notStarted, outcomeOf, remoteReply, SmtpError } from './hop-outcome';
import { SendingIp, sourceFor } from './ip-pools';
import { MtaSts, StsPolicy, StsStore, stsMxMatches } from './mta-sts';
import type { MxDns } from './mx-dns';
import type { SendOutcome } from './outcome';
import type { SmtpPool, SmtpPoolOptions } from './smtp-pool';
import { mxTlsEntry, MxTlsPolicy } from './tls-policy';

const listed = (mx: string[]) => (mx.length > 5 ? `${mx.slice(0, 5).join(', ')} and ${mx.length - 5} more` : mx.join(', ')).slice(0, 600);

/** What a testing policy would have refused: the domain, the MX host that took the mail, and why. */
export interface StsWouldHold {
  domain: string;
  host: string;
  reasons: string[];
}

/**
 * Where the route reports what MTA-STS policies did: `enforce` delivered, held or failed; `testing` would pass or
 * hold, with what it would have held (the only report a testing policy's owner gets, without TLS-RPT).
 */
export interface MtaStsObserver {
  mtaSts(mode: 'enforce' | 'testing', result: 'delivered' | 'held' | 'failed' | 'would_pass' | 'would_hold', wouldHold?: StsWouldHold): void;
}

/** The sender domain's sending IP pool (ip-pools.ts): its name, its addresses, and the number that spreads over them. */
export interface MxSource {
  pool: string;
  entries: readonly SendingIp[];
  spread: number;
}

/**
 * Delivery to a recipient domain's own MX hosts (DELIVERY_MODE=mx): the hosts in preference order and each of their
 * addresses, never a non-public one unless MX_ALLOW_PRIVATE; TLS as MX_TLS, MX_TLS_DOMAINS or the domain's MTA-STS
 * policy demands; from an address of the sender's IP pool when it has one; one connection pool per host, address,
 * policy and source address (`pool`, from the transports).
 */
export class MxRoute {
  /** CAs an MX certificate may chain to under MX_TLS=verify; undefined: Node's own. */
  private readonly mxCa: string[] | undefined;
  /** Recipient domains' MTA-STS policies (null: MTA_STS=0). */
  private readonly sts: MtaSts | null;
  /** MX addresses (host:ip) whose TLS handshake failed under may in the last 10 minutes. */
  private readonly tlsBroken = new LRUCache<string, true>({ max: 10_000, ttl: 600_000 });

  constructor(
    private readonly config: Config,
    private readonly dns: MxDns,
    private readonly pool: (key: string, options: Partial<SmtpPoolOptions>) => SmtpPool,
    private readonly observer: MtaStsObserver | undefined,
    /** Per-destination limits (src/throttle): the size of an MX host's pool and messages per connection. */
    private readonly limitsFor?: (domain: string, mxHosts: string[]) => Limits | null,
    stsStore?: StsStore,
  ) {
    this.mxCa = mxTrustedCas(config);
    this.sts = config.mtaSts
      ? new MtaSts({
          txt: (name) => dns.resolver().resolveTxt(name),
          address: (host) => dns.address(host),
          port: config.mtaStsPort,
          ca: this.mxCa,
          allowPrivate: config.mxAllowPrivate,
          timeoutMs: STS_FETCH_TIMEOUT_MS,
          store: stsStore,
        })
      : null;
  }

  /**
   * Sends to the domain's MX hosts (from `source`'s addresses; null: the OS default source and MAIL_HOSTNAME), and
   * counts what its MTA-STS policy did (enforce) or would have done (testing).
   */
  async send(
    domain: string,
    smtpEnvelope: { from: string; to: string[] },
    message: Buffer,
    deadline = Infinity,
    source: MxSource | null = null,
  ): Promise<SendOutcome> {
    const tls = this.tlsPolicy(domain); // beside the MX lookup, not after it (it never rejects)
    const outcome = await this.attempt(domain, tls, smtpEnvelope, message, deadline, source);
    const { sts, testing } = await tls;
    if (sts) this.observer?.mtaSts('enforce', outcome.ok ? 'delivered' : outcome.byRule ? 'held' : 'failed');
    else if (testing && outcome.ok) {
      // As enforce would judge it, but for the certificate, which may does not check.
      const reasons = [
        ...(outcome.tls ? [] : ['sent without TLS']),
        // A policy may list many hosts (its body is up to 64 KiB): the log line names the first few.
        ...(stsMxMatches(outcome.host, testing.mx) ? [] : [`MX host not in the policy (mx: ${listed(testing.mx)})`]),
      ];
      if (!reasons.length) this.observer?.mtaSts('testing', 'would_pass');
      else this.observer?.mtaSts('testing', 'would_hold', { domain, host: outcome.host, reasons });
    }
    return outcome;
  }

  /** Tries the domain's MX hosts in order, and each host's addresses, until one answers (at most MX_ADDRESS_LIMIT). */
  private async attempt(
    domain: string,
    tls: ReturnType<MxRoute['tlsPolicy']>,
    smtpEnvelope: { from: string; to: string[] },
    message: Buffer,
    deadline: number,
    source: MxSource | null,
  ): Promise<SendOutcome & ({ ok: true; host: string } | { ok: false; byRule?: boolean })> {
    let hosts: string[];
    try {
      hosts = await this.dns.mxHosts(domain);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NULLMX') return { ok: false, code: 556, response: `556 5.1.10 ${domain} accepts no mail (null MX)` };
      if (code === 'ENOTFOUND') return { ok: false, code: 550, response: `550 5.1.2 ${domain}: host or domain name not found` };
      return { ok: false, response: `DNS ${code ?? 'ERROR'} looking up MX of ${domain}` };
    }
    let last: SendOutcome & { byRule?: boolean } = { ok: false, response: `no MX host for ${domain}` };
    const { policy, sts, rule } = await tls;
    let tried = 0;
    // Families of MX addresses passed over because the pool has no address of theirs.
    const unreachable = new Set<number>();
    // Under may, addresses whose TLS handshake failed: tried again in clear once the rest have had their turn.
    const inClear: { host: string; ip: string; from: SendingIp | undefined }[] = [];
    for (const host of hosts) {
      if (sts && !stsMxMatches(host, sts.mx)) {
        // Not a host the domain's policy names: under enforce it gets nothing, and with none left the mail waits.
        last = {
          ok: false,
          byRule: true,
          response: remoteReply(`MTA-STS enforce for ${domain}: ${host} is not an MX its policy names (${sts.mx.join(', ')}); not sent`),
        };
        continue;
      }
      let ips: string[];
      try {
        ips = await this.dns.addresses(host);
      } catch (err) {
        const code = (err as { code?: string }).code;
        // The domain itself (no MX, RFC 5321's fallback) named and then gone: it does not exist, as above.
        if (code === 'ENOTFOUND' && host === domain) return { ok: false, code: 550, response: `550 5.1.2 ${domain}: host or domain name not found` };
        last = { ok: false, response: `DNS ${code ?? 'ERROR'} looking up ${host}` };
        continue;
      }
      // Each of the host's addresses in turn (a host behind several, one of them down, as an MTA does).
      for (const ip of ips) {
        if (refusedAddress(ip, this.config.mxAllowPrivate)) {
          // Not the address itself in the reply: the sender sees it, and it names this network's hosts.
          last = { ok: false, code: 550, response: `550 5.4.4 ${host} (an MX host of ${domain}) is not a public address; not delivered` };
          continue;
        }
        // From the pool's address of the same family: a pool with none cannot reach it, as if it were unreachable.
        const from = source ? sourceFor(source.entries, isIP(ip), source.spread) : undefined;
        if (source && !from) {
          unreachable.add(isIP(ip));
          continue;
        }
        if (policy === 'may' && this.tlsBroken.has(`${host}:${ip}`)) {
          inClear.push({ host, ip, from }); // its handshake failed lately: not tried again with TLS for now
          continue;
        }
        if (++tried > MX_ADDRESS_LIMIT) return last;
        const outcome = await this.toMxAddress({ domain, host, ip, hosts, policy, rule, from }, smtpEnvelope, message, deadline);
        if (outcome.ok) return { ...outcome, host, tlsPolicy: sts ? 'mta-sts' : policy };
        if (outcome.code) return outcome; // the host answered: its reply decides
        last = outcome; // no connection, or our TLS rule: the next address or MX may do
        if (outcome.tlsFailed && policy === 'may') {
          this.tlsBroken.set(`${host}:${ip}`, true);
          inClear.push({ host, ip, from });
        }
      }
    }
    // Opportunistic TLS as Postfix does it: a host whose TLS handshake fails (a TLS stack that cannot meet ours, say
    // TLS 1.0 only) gets the message in clear, after every other address had its turn with TLS.
    for (const { host, ip, from } of inClear) {
      if (++tried > MX_ADDRESS_LIMIT) return last;
      const outcome = await this.toMxAddress({ domain, host, ip, hosts, policy: 'may', rule, clear: true, from }, smtpEnvelope, message, deadline);
      if (outcome.ok) return { ...outcome, host, tlsPolicy: 'may' };
      if (outcome.code) return outcome;
      last = outcome;
    }
    // Nothing tried because of the pool: the reply says so, for the operator to add an address of that family.
    if (!tried && unreachable.size && source && !last.ok && !last.code) {
      const families = [...unreachable].map((f) => `IPv${f}`).join(' and ');
      return { ok: false, response: `no MX address of ${domain} could be tried: IP pool "${source.pool}" has no ${families} address; nothing was sent` };
    }
    return last;
  }

  /**
   * One MX address, through its pool (per host, address and policy: two domains on one host may differ in policy;
   * `clear`: without STARTTLS; and per source address, `from`, so that no session is shared by two of them).
   */
  private async toMxAddress(
    t: { domain: string; host: string; ip: string; hosts: string[]; policy: MxTlsPolicy; rule: string; clear?: boolean; from?: SendingIp },
    smtpEnvelope: { from: string; to: string[] },
    message: Buffer,
    deadline: number,
  ): Promise<SendOutcome & { tlsFailed?: boolean; byRule?: boolean }> {
    const limits = this.limitsFor?.(t.domain, t.hosts);
    const sizes = {
      ...(limits?.connections ? { maxConnections: limits.connections } : {}),
      ...(limits?.messagesPerConnection ? { maxMessages: limits.messagesPerConnection } : {}),
    };
    const source = t.from ? { source: t.from.address } : {};
    try {
      const info = await this.pool(`mx:${t.host}:${t.ip}:${t.clear ? 'clear' : t.policy}${t.from ? `@${t.from.address}` : ''}`, {
        host: t.ip,
        port: this.config.mxPort,
        secure: false,
        // The pool's address and the name its reverse DNS gives, for EHLO; without a pool, the transports' defaults.
        ...(t.from ? { localAddress: t.from.address, name: t.from.hostname } : {}),
        // may: a host that refuses STARTTLS gets the message in clear, as from any MTA; otherwise never in clear.
        ...(t.clear ? { ignoreTLS: true } : t.policy === 'may' ? { opportunisticTLS: true } : { requireTLS: true }),
        tls: { rejectUnauthorized: t.policy === 'verify', servername: isIP(t.host) ? undefined : t.host, ca: this.mxCa },
        ...sizes,
      }).send(smtpEnvelope, message, deadline);
      return { ok: true, response: remoteReply(info.response), tls: info.tls, ...source };
    } catch (err) {
      return { ...failedHop(t, err), ...source };
    }
  }

  /**
   * The TLS policy for mail to `domain`: an MX_TLS_DOMAINS entry; else, when the domain publishes an MTA-STS policy in
   * enforce mode, verify and only the MX hosts it names (`sts`); else MX_TLS. `rule` names it in a deferral's reply.
   */
  private async tlsPolicy(domain: string): Promise<{ policy: MxTlsPolicy; sts: StsPolicy | null; testing: StsPolicy | null; rule: string }> {
    const entry = mxTlsEntry(domain, this.config.mxTlsDomains);
    if (entry) return { policy: entry, sts: null, testing: null, rule: `MX_TLS ${entry} for ${domain}` };
    const sts = await this.sts?.policyFor(domain);
    if (sts?.mode === 'enforce') return { policy: 'verify', sts, testing: null, rule: `MTA-STS enforce for ${domain}` };
    return { policy: this.config.mxTls, sts: null, testing: sts?.mode === 'testing' ? sts : null, rule: `MX_TLS ${this.config.mxTls} for ${domain}` };
  }
}

/**
 * What a failed MX hop came to. `tlsFailed`: under may, the TLS handshake failed (a refused STARTTLS goes on in clear);
 * `byRule`: held back by our TLS rule (encrypt, verify, MTA-STS), not by the host (counted as `held`).
 */
function failedHop(
  t: { host: string; policy: MxTlsPolicy; rule: string; clear?: boolean },
  err: unknown,
): SendOutcome & { tlsFailed?: boolean; byRule?: boolean } {
  // Our rule, not the host's verdict on the message (its reply to STARTTLS may be a 5xx): no code, so the next
  // MX is tried, else the delivery waits for a retry.
  const e = err as SmtpError & { tlsHandshake?: boolean; beforeTls?: boolean };
  if (e.code === 'ETLS' && t.policy !== 'may') return { ok: false, byRule: true, response: notStarted(t.rule, t.host, e) };
  // Under encrypt, verify or MTA-STS, a reply before TLS (a 5xx greeting, say) may be anyone's on the path: it
  // bounces and suppresses nothing; the next MX is tried, else the delivery waits (Postfix skips a 5xx greeting).
  if (e.beforeTls && e.responseCode && t.policy !== 'may') return { ok: false, response: answeredBeforeTls(t.rule, t.host, e) };
  // A handshake that failed under encrypt or verify (a certificate refused, say) is our rule at work too.
  if (e.tlsHandshake && t.policy !== 'may') return { ok: false, byRule: true, response: handshakeFailed(t.rule, t.host, e) };
  return { ...outcomeOf(err), ...((e.tlsHandshake || e.code === 'ETLS') && t.policy === 'may' && !t.clear ? { tlsFailed: true } : {}) };
}

/**
 * Node's CAs plus MX_TLS_CA_FILE's, for the verify policy (a `ca` option replaces Node's list rather than adding to
 * it). Read at start whenever set, so a wrong path stops the worker rather than the first verified delivery.
 */
function mxTrustedCas(config: Pick<Config, 'mxTlsCaFile'>): string[] | undefined {
  if (!config.mxTlsCaFile) return undefined;
  try {
    return [...rootCertificates, fs.readFileSync(config.mxTlsCaFile, 'utf8')];
  } catch (err) {
    throw new ConfigError(`MX_TLS_CA_FILE ${config.mxTlsCaFile} cannot be read: ${(err as Error).message}`);
  }
}

/**
 * Connections one delivery attempt may try across its MX hosts' addresses (Postfix's smtp_mx_address_limit): a
 * domain with many unreachable addresses, each up to connectionTimeout, would otherwise hold a delivery slot for long.
 */
const MX_ADDRESS_LIMIT = 5;

/** RFC 8461 §3.3 suggests a minute at most; a policy host slower than this leaves the mail to go without its policy. */
const STS_FETCH_TIMEOUT_MS = 10_000;
