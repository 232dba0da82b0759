import fs from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { LRUCache } from 'lru-cache';
import { SmtpPool, SmtpPoolOptions } from './smtp-pool';
import { DkimPool } from './dkim-pool';
import { DkimKey, dkimSign } from './dkim-sign';
import type { DkimKeyCache } from './dkim-keys';
import type { SendOutcome } from './outcome';
import { MtaSts, StsPolicy, StsStore, stsMxMatches } from './mta-sts';
import { mxTlsEntry, MxTlsPolicy, relayRequiresTls } from './tls-policy';
import { Config, ConfigError } from '../config';
import type { CaptureMeta, CaptureStore } from '../capture/store';
import type { Limits } from '../throttle/rules';
import { refusedAddress } from '../webhooks/url-guard';

/** What the transports report as they work (src/ops/metrics.ts implements it). */
export interface TransportObserver {
  dkimSign(seconds: number): void;
  /** The next hop's reply for a recipient domain (the smarthost's in relay mode); code undefined when none came (DNS, connection). */
  remoteReply(domain: string, code: number | undefined): void;
}

export type Dkim = DkimKey;

interface SmtpError {
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
}

/**
 * A remote server's reply as kept and logged: at most 1,000 characters. nodemailer takes replies of up to 1 MiB, and
 * a recipient's MX (or the relay) chooses them: stored whole they grow rows, and the log's address masking scans them.
 */
function remoteReply(response: string | undefined): string {
  return String(response ?? '').slice(0, 1000);
}

/** The basic code at the start of a reply text (`250 2.0.0 Ok` → 250). */
function replyCode(response: string): number | undefined {
  const m = /^([2-5]\d\d)[ -]/.exec(response);
  return m ? Number(m[1]) : undefined;
}

function outcomeOf(err: unknown): SendOutcome {
  const e = err as SmtpError;
  return { ok: false, code: e.responseCode, response: remoteReply((e.response ?? `${e.code ?? 'ERROR'} ${e.message ?? ''}`).trim()) };
}

/**
 * Hands a raw message to the next hop with nodemailer: a pooled connection to the smarthost
 * (DELIVERY_MODE=relay), or to the recipient domain's MX hosts in preference order with an A fallback
 * (DELIVERY_MODE=mx), one pool per destination host, STARTTLS whenever offered; or, signed all the same, to the
 * capture store (DELIVERY_MODE=capture).
 */
export class Transports {
  private readonly pools = new Map<string, SmtpPool>();
  private signer: DkimPool | null = null;
  private readonly mxCache = new Map<string, { mx: { exchange: string; priority: number }[]; until: number }>();

  /** `dkimKeys` holds the parsed keys for the signing threads and the in-thread fallback alike. */
  constructor(
    private readonly config: Config,
    private readonly dkimKeys: DkimKeyCache,
    private readonly observer?: TransportObserver,
    private readonly captured: CaptureStore | null = null,
    /** Per-destination limits (src/throttle): the size of an MX host's pool and messages per connection. */
    private readonly limitsFor?: (domain: string, mxHosts: string[]) => Limits | null,
    /** Where MTA-STS policies outlive this process (the database); without it, in memory only. */
    stsStore?: StsStore,
  ) {
    this.mxCa = mxTrustedCas(config);
    this.sts =
      config.deliveryMode === 'mx' && config.mtaSts
        ? new MtaSts({
            txt: (name) => this.resolver().resolveTxt(name),
            address: (host) => this.address(host),
            port: config.mtaStsPort,
            ca: this.mxCa,
            allowPrivate: config.mxAllowPrivate,
            timeoutMs: STS_FETCH_TIMEOUT_MS,
            store: stsStore,
          })
        : null;
  }

  /** Recipient domains' MTA-STS policies (MTA_STS; mx mode only). */
  private readonly sts: MtaSts | null;

  /** CAs an MX certificate may chain to under MX_TLS=verify; undefined: Node's own. */
  private readonly mxCa: string[] | undefined;

  /** The recipient domain's MX hosts in preference order (mx mode; [] otherwise or when the lookup fails). */
  async mxHostsFor(domain: string): Promise<string[]> {
    if (this.config.deliveryMode !== 'mx') return [];
    // In DNS order within a preference, not shuffled: the throttle matches its MX rules on the first host.
    return this.mxRecords(domain).then(
      (mx) => mx.map((m) => m.exchange),
      () => [],
    );
  }

  private pool(key: string, options: Partial<SmtpPoolOptions>): SmtpPool {
    let t = this.pools.get(key);
    if (!t) {
      t = new SmtpPool({
        maxConnections: 5,
        maxMessages: 1000,
        name: this.config.mailHostname,
        connectionTimeout: 30_000,
        greetingTimeout: 30_000,
        socketTimeout: 120_000,
        ...options,
      });
      this.pools.set(key, t);
    }
    return t;
  }

  /** The smarthost's pool, looked up once: parsing SMTP_RELAY_URL and building its options on every send was 0.3 % of a busy worker. */
  private relayPool: SmtpPool | null = null;

  private relay(): SmtpPool {
    return (this.relayPool ??= this.openRelay());
  }

  private openRelay(): SmtpPool {
    const u = new URL(this.config.smtpRelayUrl!);
    const secure = u.protocol === 'smtps:';
    return this.pool('relay', {
      host: u.hostname,
      port: u.port ? Number(u.port) : secure ? 465 : 25,
      secure,
      // ?starttls=required: an smtp:// smarthost must start TLS before AUTH and the message, or nothing is sent.
      ...(relayRequiresTls(u) ? { requireTLS: true } : {}),
      credentials: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
      maxConnections: Math.min(this.config.deliveryConcurrency, this.config.smtpRelayMaxConnections),
      tls: { rejectUnauthorized: u.searchParams.get('tls_verify') !== '0' },
    });
  }

  private resolver(): Resolver {
    const r = new Resolver({ timeout: this.config.dnsTimeoutMs, tries: 2 });
    if (this.config.dnsServers.length) r.setServers(this.config.dnsServers);
    return r;
  }

  /** The addresses of a host through the same resolvers as the MX lookup: its A records, else its AAAA records. */
  private async addresses(host: string): Promise<string[]> {
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

  private async address(host: string): Promise<string> {
    return (await this.addresses(host))[0];
  }

  /** The domain's MX hosts to try, in preference order, those of equal preference in a random order each time (RFC 5321 §5.1). */
  private async mxHosts(domain: string): Promise<string[]> {
    const mx = await this.mxRecords(domain);
    if (mx.length === 1) return [mx[0].exchange];
    return mx
      .map((m) => ({ m, draw: Math.random() }))
      .sort((a, b) => a.m.priority - b.m.priority || a.draw - b.draw)
      .map(({ m }) => m.exchange);
  }

  /** The domain's MX records in preference order (DNS order within one), cached for five minutes. */
  private async mxRecords(domain: string): Promise<{ exchange: string; priority: number }[]> {
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
      if (code === 'NULLMX') throw err;
      if (code !== 'ENODATA' && code !== 'ENOTFOUND') throw err;
      return [{ exchange: domain, priority: 0 }]; // RFC 5321 §5.1: no MX → the domain's own address
    }
  }

  /** `meta` names the delivery; only the capture store reads it. */
  async send(envelope: { from: string; to: string }, raw: Buffer, dkim: Dkim | null, meta?: CaptureMeta): Promise<SendOutcome> {
    let message: Buffer;
    try {
      // Signed on a worker thread; should the thread fail, in this one (the same signer either way).
      const started = process.hrtime.bigint();
      message = dkim ? await (this.signer ??= new DkimPool(this.dkimKeys)).sign(raw, dkim).catch(() => dkimSign(raw, dkim, this.dkimKeys)) : raw;
      if (dkim) this.observer?.dkimSign(Number(process.hrtime.bigint() - started) / 1e9);
    } catch (err) {
      return { ok: false, response: `DKIM signing failed: ${(err as Error).message}`.slice(0, 1000) };
    }
    if (this.config.deliveryMode === 'capture') {
      // Fails closed: capture mode never falls through to a real server.
      return this.captured && meta
        ? this.captured.store(meta, envelope, message)
        : { ok: false, response: '451 4.3.5 DELIVERY_MODE=capture has no capture store here' };
    }
    const smtpEnvelope = { from: envelope.from, to: [envelope.to] };
    const domain = envelope.to.split('@')[1].toLowerCase();
    const outcome = this.config.deliveryMode === 'relay' ? await this.toRelay(smtpEnvelope, message) : await this.toMx(domain, smtpEnvelope, message);
    this.observer?.remoteReply(domain, outcome.ok ? replyCode(outcome.response) : outcome.code);
    return outcome;
  }

  private async toRelay(smtpEnvelope: { from: string; to: string[] }, message: Buffer): Promise<SendOutcome> {
    try {
      const info = await this.relay().send(smtpEnvelope, message);
      return { ok: true, response: remoteReply(info.response), tls: info.tls };
    } catch (err) {
      // Our rule, not the smarthost's verdict on the message (its reply to STARTTLS may be a 5xx): retried later.
      if ((err as SmtpError).code === 'ETLS') {
        const rule = relayRequiresTls(new URL(this.config.smtpRelayUrl!)) ? 'SMTP_RELAY_URL starttls=required' : 'SMTP_RELAY_URL';
        return { ok: false, response: notStarted(rule, 'the smarthost', err as SmtpError) };
      }
      return outcomeOf(err);
    }
  }

  /** Tries the domain's MX hosts in order, and each host's addresses, until one answers (at most MX_ADDRESS_LIMIT). */
  private async toMx(domain: string, smtpEnvelope: { from: string; to: string[] }, message: Buffer): Promise<SendOutcome> {
    const tls = this.tlsPolicy(domain); // beside the MX lookup, not after it (it never rejects)
    let hosts: string[];
    try {
      hosts = await this.mxHosts(domain);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NULLMX') return { ok: false, code: 556, response: `556 5.1.10 ${domain} accepts no mail (null MX)` };
      if (code === 'ENOTFOUND') return { ok: false, code: 550, response: `550 5.1.2 ${domain}: host or domain name not found` };
      return { ok: false, response: `DNS ${code ?? 'ERROR'} looking up MX of ${domain}` };
    }
    let last: SendOutcome = { ok: false, response: `no MX host for ${domain}` };
    const { policy, sts, rule } = await tls;
    let tried = 0;
    // Under may, addresses whose TLS handshake failed: tried again in clear once the rest have had their turn.
    const inClear: { host: string; ip: string }[] = [];
    for (const host of hosts) {
      if (sts && !stsMxMatches(host, sts.mx)) {
        // Not a host the domain's policy names: under enforce it gets nothing, and with none left the mail waits.
        last = { ok: false, response: remoteReply(`MTA-STS enforce for ${domain}: ${host} is not an MX its policy names (${sts.mx.join(', ')}); not sent`) };
        continue;
      }
      let ips: string[];
      try {
        ips = await this.addresses(host);
      } catch (err) {
        last = { ok: false, response: `DNS ${(err as { code?: string }).code ?? 'ERROR'} looking up ${host}` };
        continue;
      }
      // Each of the host's addresses in turn (a host behind several, one of them down, as an MTA does).
      for (const ip of ips) {
        if (refusedAddress(ip, this.config.mxAllowPrivate)) {
          // Not the address itself in the reply: the sender sees it, and it names this network's hosts.
          last = { ok: false, code: 550, response: `550 5.4.4 ${host} (an MX host of ${domain}) is not a public address; not delivered` };
          continue;
        }
        if (policy === 'may' && this.tlsBroken.has(`${host}:${ip}`)) {
          inClear.push({ host, ip }); // its handshake failed lately: not tried again with TLS for now
          continue;
        }
        if (++tried > MX_ADDRESS_LIMIT) return last;
        const outcome = await this.toMxAddress({ domain, host, ip, hosts, policy, rule }, smtpEnvelope, message);
        if (outcome.ok) return { ...outcome, tlsPolicy: sts ? 'mta-sts' : policy };
        if (outcome.code) return outcome; // the host answered: its reply decides
        last = outcome; // no connection, or our TLS rule: the next address or MX may do
        if (outcome.tlsFailed && policy === 'may') {
          this.tlsBroken.set(`${host}:${ip}`, true);
          inClear.push({ host, ip });
        }
      }
    }
    // Opportunistic TLS as Postfix does it: a host whose TLS handshake fails (a TLS stack that cannot meet ours, say
    // TLS 1.0 only) gets the message in clear, after every other address had its turn with TLS.
    for (const { host, ip } of inClear) {
      if (++tried > MX_ADDRESS_LIMIT) return last;
      const outcome = await this.toMxAddress({ domain, host, ip, hosts, policy: 'may', rule, clear: true }, smtpEnvelope, message);
      if (outcome.ok) return { ...outcome, tlsPolicy: 'may' };
      if (outcome.code) return outcome;
      last = outcome;
    }
    return last;
  }

  /** MX addresses (host:ip) whose TLS handshake failed under may in the last 10 minutes. */
  private readonly tlsBroken = new LRUCache<string, true>({ max: 10_000, ttl: 600_000 });

  /**
   * One MX address, through its pool (per host, address and policy: two domains on one host may differ in policy;
   * `clear`: without STARTTLS). `tlsFailed`: under may, the TLS handshake failed (a refused STARTTLS goes on in clear).
   */
  private async toMxAddress(
    t: { domain: string; host: string; ip: string; hosts: string[]; policy: MxTlsPolicy; rule: string; clear?: boolean },
    smtpEnvelope: { from: string; to: string[] },
    message: Buffer,
  ): Promise<SendOutcome & { tlsFailed?: boolean }> {
    const limits = this.limitsFor?.(t.domain, t.hosts);
    const sizes = {
      ...(limits?.connections ? { maxConnections: limits.connections } : {}),
      ...(limits?.messagesPerConnection ? { maxMessages: limits.messagesPerConnection } : {}),
    };
    try {
      const info = await this.pool(`mx:${t.host}:${t.ip}:${t.clear ? 'clear' : t.policy}`, {
        host: t.ip,
        port: this.config.mxPort,
        secure: false,
        // may: a host that refuses STARTTLS gets the message in clear, as from any MTA; otherwise never in clear.
        ...(t.clear ? { ignoreTLS: true } : t.policy === 'may' ? { opportunisticTLS: true } : { requireTLS: true }),
        tls: { rejectUnauthorized: t.policy === 'verify', servername: isIP(t.host) ? undefined : t.host, ca: this.mxCa },
        ...sizes,
      }).send(smtpEnvelope, message);
      return { ok: true, response: remoteReply(info.response), tls: info.tls };
    } catch (err) {
      // Our rule, not the host's verdict on the message (its reply to STARTTLS may be a 5xx): no code, so the next
      // MX is tried, else the delivery waits for a retry.
      if ((err as SmtpError).code === 'ETLS' && t.policy !== 'may') return { ok: false, response: notStarted(t.rule, t.host, err as SmtpError) };
      const handshake = (err as { tlsHandshake?: boolean }).tlsHandshake || (err as SmtpError).code === 'ETLS';
      return { ...outcomeOf(err), ...(handshake && t.policy === 'may' && !t.clear ? { tlsFailed: true } : {}) };
    }
  }

  /**
   * The TLS policy for mail to `domain`: an MX_TLS_DOMAINS entry; else, when the domain publishes an MTA-STS policy in
   * enforce mode, verify and only the MX hosts it names (`sts`); else MX_TLS. `rule` names it in a deferral's reply.
   */
  private async tlsPolicy(domain: string): Promise<{ policy: MxTlsPolicy; sts: StsPolicy | null; rule: string }> {
    const entry = mxTlsEntry(domain, this.config.mxTlsDomains);
    if (entry) return { policy: entry, sts: null, rule: `MX_TLS ${entry} for ${domain}` };
    const sts = await this.sts?.policyFor(domain);
    if (sts?.mode === 'enforce') return { policy: 'verify', sts, rule: `MTA-STS enforce for ${domain}` };
    return { policy: this.config.mxTls, sts: null, rule: `MX_TLS ${this.config.mxTls} for ${domain}` };
  }

  close(): void {
    for (const t of this.pools.values()) t.close();
    this.pools.clear();
    this.relayPool = null;
    void this.signer?.close();
    this.signer = null;
  }
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

/** The reply of a delivery held back because its hop did not start TLS (quoting the hop's answer to STARTTLS). */
function notStarted(rule: string, hop: string, err: SmtpError): string {
  const said = err.response?.trim();
  return remoteReply(`${rule}: ${hop} did not start TLS${said ? ` (${said})` : ''}; nothing was sent in clear`);
}
