import { SmtpPool, SmtpPoolOptions } from './smtp-pool';
import { DkimPool } from './dkim-pool';
import { DkimKey, dkimSign } from './dkim-sign';
import type { DkimKeyCache } from './dkim-keys';
import { notStarted, outcomeOf, remoteReply, replyCode, SmtpError } from './hop-outcome';
import type { StsStore } from './mta-sts';
import { MxDns } from './mx-dns';
import { MtaStsObserver, MxRoute, MxSource } from './mx-route';
import type { PoolChoice } from './ip-pools';
import type { SendOutcome } from './outcome';
import { relayRequiresTls } from './tls-policy';
import type { Config } from '../config';
import type { CaptureMeta, CaptureStore } from '../capture/store';
import type { Limits } from '../throttle/rules';

/** What the transports report as they work (src/ops/metrics.ts implements it). */
export interface TransportObserver extends MtaStsObserver {
  dkimSign(seconds: number): void;
  /** The next hop's reply for a recipient domain (the smarthost's in relay mode); code undefined when none came (DNS, connection). */
  remoteReply(domain: string, code: number | undefined): void;
  /** An MX send's reply by sending IP pool and source address ('' for none: the OS default), as remoteReply's code. */
  sentFrom(pool: string, source: string, code: number | undefined): void;
}

export type Dkim = DkimKey;

/**
 * Hands a raw message, DKIM-signed, to the next hop with nodemailer: a pooled connection to the smarthost
 * (DELIVERY_MODE=relay), or the recipient domain's MX hosts (DELIVERY_MODE=mx, mx-route.ts); or to the capture store
 * (DELIVERY_MODE=capture).
 */
export class Transports {
  private readonly pools = new Map<string, SmtpPool>();
  private signer: DkimPool | null = null;
  private readonly mxDns: MxDns;
  /** Built whatever the mode, so an unreadable MX_TLS_CA_FILE stops the worker at start (as documented). */
  private readonly mx: MxRoute;

  /** `dkimKeys` holds the parsed keys for the signing threads and the in-thread fallback alike. */
  constructor(
    private readonly config: Config,
    private readonly dkimKeys: DkimKeyCache,
    private readonly observer?: TransportObserver,
    private readonly captured: CaptureStore | null = null,
    /** Per-destination limits (src/throttle): the size of an MX host's pool and messages per connection. */
    limitsFor?: (domain: string, mxHosts: string[]) => Limits | null,
    /** Where MTA-STS policies outlive this process (the database); without it, in memory only. */
    stsStore?: StsStore,
    /** Pools kept before unused ones are dropped (each MX host and address a worker has sent to has one). */
    private readonly maxPools = 500,
  ) {
    this.mxDns = new MxDns(config);
    this.mx = new MxRoute(config, this.mxDns, (key, options) => this.pool(key, options), observer, limitsFor, stsStore);
  }

  /** The recipient domain's MX hosts in preference order (mx mode; [] otherwise or when the lookup fails). */
  async mxHostsFor(domain: string): Promise<string[]> {
    if (this.config.deliveryMode !== 'mx') return [];
    // In DNS order within a preference, not shuffled: the throttle matches its MX rules on the first host.
    return this.mxDns.mxRecords(domain).then(
      (mx) => mx.map((m) => m.exchange),
      () => [],
    );
  }

  /** Pools held now (the smarthost's included). */
  get poolCount(): number {
    return this.pools.size;
  }

  private pool(key: string, options: Partial<SmtpPoolOptions>): SmtpPool {
    let t = this.pools.get(key);
    if (!t) {
      // One pool per MX host and address ever sent to grew without end (a tenant mailing random names under a
      // wildcard domain adds one a message): past the cap, pools with no send under way go, their idle sessions quit.
      if (this.pools.size >= this.maxPools) {
        for (const [k, p] of this.pools) {
          if (k === 'relay' || !p.unused) continue;
          p.close();
          this.pools.delete(k);
        }
      }
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

  /**
   * `meta` names the delivery; only the capture store reads it. `deadline` bounds the SMTP sessions (SmtpPool.send).
   * `from`: the sender domain's sending IP pool, in mx mode only (relay and capture send as ever).
   */
  async send(
    envelope: { from: string; to: string },
    raw: Buffer,
    dkim: Dkim | null,
    meta?: CaptureMeta,
    deadline = Infinity,
    from?: PoolChoice,
  ): Promise<SendOutcome> {
    const source = this.config.deliveryMode === 'mx' ? this.sourceOf(from) : null;
    // A pool taken out of SENDING_IP_POOLS while domains still name it: their mail waits rather than leave from
    // another address (a dedicated IP's customer on the shared one, or bulk mail on the transactional one).
    if (typeof source === 'string') return { ok: false, response: `IP pool "${source}" of the sender domain is not in SENDING_IP_POOLS; nothing was sent` };
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
    const outcome =
      this.config.deliveryMode === 'relay'
        ? await this.toRelay(smtpEnvelope, message, deadline)
        : await this.mx.send(domain, smtpEnvelope, message, deadline, source);
    const code = outcome.ok ? replyCode(outcome.response) : outcome.code;
    this.observer?.remoteReply(domain, code);
    if (this.config.deliveryMode === 'mx') this.observer?.sentFrom(source?.pool ?? '', outcome.source ?? '', code);
    return outcome;
  }

  /** The pool's addresses (null: none, the OS default source), or the name of a pool that is not configured. */
  private sourceOf(from: PoolChoice | undefined): MxSource | null | string {
    if (!from?.pool) return null;
    const entries = this.config.sendingIpPools.get(from.pool);
    return entries ? { pool: from.pool, entries, spread: from.spread } : from.pool;
  }

  private async toRelay(smtpEnvelope: { from: string; to: string[] }, message: Buffer, deadline: number): Promise<SendOutcome> {
    try {
      const info = await this.relay().send(smtpEnvelope, message, deadline);
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

  close(): void {
    for (const t of this.pools.values()) t.close();
    this.pools.clear();
    this.relayPool = null;
    void this.signer?.close();
    this.signer = null;
  }
}
