import type * as Prom from 'prom-client';
import type { Db } from '../db';
import { lazy } from '../lazy';
import { queueDepth } from './queue-depth';
import { TopLabels } from './top-labels';

// prom-client's index also loads the pushgateway, summaries and the process metrics (with @opentelemetry/api, 50
// files); every process needs only these four by their files, and the process metrics at the first scrape.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const Registry = require('prom-client/lib/registry') as typeof Prom.Registry;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const Counter = require('prom-client/lib/counter') as typeof Prom.Counter;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const Gauge = require('prom-client/lib/gauge') as typeof Prom.Gauge;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const Histogram = require('prom-client/lib/histogram') as typeof Prom.Histogram;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's files, typed by its index
const collectDefaultMetrics = lazy(() => require('prom-client/lib/defaultMetrics') as typeof Prom.collectDefaultMetrics);

/** How long a scrape reuses the database figures (queue depth, outbox backlog) another scrape just read. */
const DB_FIGURES_TTL_MS = 2000;
/** How long a scrape waits for those figures. */
const DB_FIGURES_TIMEOUT_MS = 3000;

/** `2xx`, `4xx`, `5xx` for an SMTP reply code; `none` when the exchange failed before a reply (DNS, connection). */
export function replyClass(code: number | undefined): string {
  return code && code >= 200 && code < 600 ? `${Math.floor(code / 100)}xx` : 'none';
}

/**
 * Every metric Postern exports, on a registry of its own (never prom-client's global one) built once per process
 * in buildServices. Call sites use the small methods below, so the label sets stay in one place and bounded:
 * routes are express patterns, commands come from the command table, domains pass through TopLabels.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly domains: TopLabels;
  private readonly httpRequests: Prom.Counter<'route' | 'command' | 'status'>;
  private readonly httpSeconds: Prom.Histogram<'route' | 'command'>;
  private readonly commands: Prom.Counter<'command' | 'code'>;
  private readonly acceptedMessages: Prom.Counter<'door'>;
  private readonly deliveries: Prom.Counter<'outcome' | 'bounce_class'>;
  private readonly deliveredTls: Prom.Counter<'tls'>;
  private readonly mtaStsResults: Prom.Counter<'mode' | 'result'>;
  private readonly deliverySeconds: Prom.Histogram;
  private readonly remoteReplies: Prom.Counter<'domain' | 'class'>;
  private readonly sourceReplies: Prom.Counter<'pool' | 'source' | 'class'>;
  private readonly dkimSeconds: Prom.Histogram;
  private readonly webhooks: Prom.Counter<'result'>;
  private readonly groupSizes: Prom.Histogram<'coalescer'>;
  private readonly smtpSessions: Prom.Counter;
  private readonly smtpActive: Prom.Gauge;
  private readonly smtpAuthFailures: Prom.Counter;
  private readonly smtpRejections: Prom.Counter<'stage' | 'reply'>;
  private readonly dnsChecks: Prom.Counter<'result'>;
  private readonly domainEvents: Prom.Counter<'event'>;
  private readonly reputationPasses: Prom.Counter<'result'>;
  private readonly complaintVerdicts: Prom.Counter<'verdict'>;
  private readonly throttles: Prom.Counter<'destination' | 'reason'>;

  private processMetrics = false;

  constructor(db: Db | null, opts: { topDomains: number }) {
    const registers = [this.registry];
    this.domains = new TopLabels(opts.topDomains);
    this.httpRequests = new Counter({
      name: 'postern_http_requests_total',
      help: 'HTTP requests by route pattern, command and status',
      labelNames: ['route', 'command', 'status'],
      registers,
    });
    this.httpSeconds = new Histogram({
      name: 'postern_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern and command',
      labelNames: ['route', 'command'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.commands = new Counter({
      name: 'postern_commands_total',
      help: 'Commands run, by name and result code (0 = success)',
      labelNames: ['command', 'code'],
      registers,
    });
    this.acceptedMessages = new Counter({
      name: 'postern_messages_accepted_total',
      help: 'Messages accepted (committed) by the door they came through',
      labelNames: ['door'],
      registers,
    });
    this.deliveries = new Counter({
      name: 'postern_deliveries_total',
      help: 'Delivery attempts recorded, by outcome and bounce class',
      labelNames: ['outcome', 'bounce_class'],
      registers,
    });
    this.deliveredTls = new Counter({
      name: 'postern_delivered_tls_total',
      help: 'Delivered copies by the TLS protocol of the hop (none: in clear)',
      labelNames: ['tls'],
      registers,
    });
    this.mtaStsResults = new Counter({
      name: 'postern_mta_sts_total',
      help: 'Sends to domains with an MTA-STS policy: enforce delivered, held (by the policy) or failed; testing would pass or hold',
      labelNames: ['mode', 'result'],
      registers,
    });
    this.deliverySeconds = new Histogram({
      name: 'postern_delivery_latency_seconds',
      help: 'Time from acceptance to delivery of delivered messages',
      buckets: [0.5, 1, 2, 5, 15, 30, 60, 300, 900, 3600, 14400, 86400],
      registers,
    });
    this.remoteReplies = new Counter({
      name: 'postern_remote_smtp_replies_total',
      help: 'Replies of remote SMTP servers by class, per destination domain (top domains; the rest as other)',
      labelNames: ['domain', 'class'],
      registers,
    });
    // Bounded by the configuration: only pools and addresses of SENDING_IP_POOLS get here.
    this.sourceReplies = new Counter({
      name: 'postern_mx_sends_by_source_total',
      help: 'Sends to MX hosts by sending IP pool, source address and reply class (pool and source empty: the OS default; source empty in a pool: no address of it could be used)',
      labelNames: ['pool', 'source', 'class'],
      registers,
    });
    this.dkimSeconds = new Histogram({
      name: 'postern_dkim_sign_seconds',
      help: 'Time to DKIM-sign one message',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    });
    this.webhooks = new Counter({ name: 'postern_webhook_deliveries_total', help: 'Webhook delivery attempts by result', labelNames: ['result'], registers });
    this.groupSizes = new Histogram({
      name: 'postern_group_commit_size',
      help: 'Items per group flush of each coalescer (group commit, leases, settles)',
      labelNames: ['coalescer'],
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    });
    this.smtpSessions = new Counter({ name: 'postern_smtp_sessions_total', help: 'Connections accepted by the SMTP relay front', registers });
    this.smtpActive = new Gauge({ name: 'postern_smtp_sessions_active', help: 'Open connections on the SMTP relay front', registers });
    this.smtpAuthFailures = new Counter({ name: 'postern_smtp_auth_failures_total', help: 'Failed SMTP AUTH attempts', registers });
    this.smtpRejections = new Counter({
      name: 'postern_smtp_rejections_total',
      help: 'Refusals of the SMTP relay front by stage and reply (basic and enhanced code)',
      labelNames: ['stage', 'reply'],
      registers,
    });
    this.dnsChecks = new Counter({
      name: 'postern_dns_watch_checks_total',
      help: 'DNS watch checks of a domain by result (ok, failing, inconclusive)',
      labelNames: ['result'],
      registers,
    });
    this.domainEvents = new Counter({
      name: 'postern_domain_events_total',
      help: 'Domain events recorded by the DNS watch (dns_failed, dns_restored, deactivated, dkim_rotated, dkim_key_removed)',
      labelNames: ['event'],
      registers,
    });
    this.reputationPasses = new Counter({
      name: 'postern_reputation_passes_total',
      help: 'Reputation guard passes by result: clear, suspended (one domain or more), mass_stop (too many over a limit at once: nobody suspended, alert on it), failed',
      labelNames: ['result'],
      registers,
    });
    this.complaintVerdicts = new Counter({
      name: 'postern_complaint_sources_total',
      help: 'ARF complaints judged against COMPLAINT_TRUSTED_SOURCES: trusted (applied), untrusted (stored only), retry (a key lookup failed; answered 451)',
      labelNames: ['verdict'],
      registers,
    });
    this.throttles = new Counter({
      name: 'postern_throttled_total',
      help: 'Sends put back by per-destination limits, by destination (top ones; the rest as other) and limit (rate, connections)',
      labelNames: ['destination', 'reason'],
      registers,
    });
    if (db) this.databaseGauges(db);
  }

  private databaseGauges(db: Db): void {
    const registers = [this.registry];
    let cached: { at: number; figures: Promise<{ depth: Awaited<ReturnType<typeof queueDepth>>; outbox: number }> } | null = null;
    // A failed read leaves the database gauges as they were and says so in postern_metrics_db_up: the rest of the
    // scrape (and its process metrics) matters most when the database is down.
    const guarded = async <T>(read: () => Promise<T>): Promise<T | undefined> => read().catch(() => undefined);
    new Gauge({
      name: 'postern_metrics_db_up',
      help: '1 when this scrape could read the database figures (queue depth, outbox backlog), else 0',
      registers,
      async collect() {
        this.set((await guarded(figures)) ? 1 : 0);
      },
    });
    const figures = () => {
      if (!cached || Date.now() - cached.at > DB_FIGURES_TTL_MS) {
        let timer: NodeJS.Timeout | undefined;
        // A scrape must not wait for a pool that cannot connect: past DB_FIGURES_TIMEOUT_MS the figures are missing.
        const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('database figures timed out')), DB_FIGURES_TIMEOUT_MS)));
        const read = Promise.race([
          (async () => {
            const [depth, outbox] = await Promise.all([queueDepth(db), db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' })]);
            return { depth, outbox: Number((outbox[0] as { n: number | string }).n) };
          })(),
          timeout,
        ]).finally(() => clearTimeout(timer));
        cached = { at: Date.now(), figures: read };
        read.catch(() => (cached = null)); // a failed read is not reused
      }
      return cached.figures;
    };
    new Gauge({
      name: 'postern_queue_depth',
      help: 'Deliveries not finished, by state (queued, scheduled, deferred, leased, held by queue.hold, held_suspension by a suspended sender domain, held_disabled by a disabled account or domain)',
      labelNames: ['state'],
      registers,
      async collect() {
        const depth = (await guarded(figures))?.depth;
        if (!depth) return;
        // The states still add up to every unfinished delivery: `held` is the operators' holds, `held_suspension` the
        // suspensions' (which end by a lift or SUSPENSION_HOLD_MAX_SECONDS, not by queue.release), `held_disabled`
        // a switched-off sender's (which end by switching it on or DELIVERY_MAX_AGE_SECONDS).
        for (const [state, n] of Object.entries(depth.byState)) this.set({ state }, state === 'held' ? n - depth.heldBySuspension - depth.heldSwitchedOff : n);
        this.set({ state: 'held_suspension' }, depth.heldBySuspension);
        this.set({ state: 'held_disabled' }, depth.heldSwitchedOff);
      },
    });
    new Gauge({
      name: 'postern_queue_pending_batch_recipients',
      help: 'Recipients accepted in batch rows not yet expanded into deliveries (counted in queue_depth{state="queued"} too)',
      registers,
      async collect() {
        const depth = (await guarded(figures))?.depth;
        if (depth) this.set(depth.pendingBatchRecipients);
      },
    });
    new Gauge({
      name: 'postern_queue_oldest_queued_seconds',
      help: 'Age of the oldest delivery still waiting for its first attempt (0 when none)',
      registers,
      async collect() {
        const depth = (await guarded(figures))?.depth;
        if (depth) this.set(depth.oldestQueuedAt === null ? 0 : Math.max(0, (Date.now() - depth.oldestQueuedAt) / 1000));
      },
    });
    new Gauge({
      name: 'postern_webhook_outbox_backlog',
      help: 'Webhook deliveries waiting to be sent or retried',
      registers,
      async collect() {
        const f = await guarded(figures);
        if (f) this.set(f.outbox);
      },
    });
    new Gauge({
      name: 'postern_db_pool_connections',
      help: 'Database connections of this process by state (used, free, pending acquires)',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = (db.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
        if (!pool) return;
        this.set({ state: 'used' }, pool.numUsed());
        this.set({ state: 'free' }, pool.numFree());
        this.set({ state: 'pending' }, pool.numPendingAcquires());
      },
    });
  }

  /**
   * The Prometheus text. The process metrics (CPU, heap, GC, event-loop lag) start at the first scrape: their
   * event-loop monitor samples all the time once on, which only a process someone scrapes should pay for.
   */
  async scrape(): Promise<string> {
    if (!this.processMetrics) {
      this.processMetrics = true;
      collectDefaultMetrics()({ register: this.registry });
    }
    return this.registry.metrics();
  }

  http(route: string, command: string | undefined, status: number, seconds: number): void {
    const c = command ?? '';
    this.httpRequests.inc({ route, command: c, status: String(status) });
    this.httpSeconds.observe({ route, command: c }, seconds);
  }

  command(name: string, code: number | string): void {
    this.commands.inc({ command: name, code: String(code) });
  }

  accepted(door: string, messages: number): void {
    if (messages > 0) this.acceptedMessages.inc({ door }, messages);
  }

  /** One recorded outcome: `delivered`, `deferred`, `bounced`, `failed`, `suppressed` (not sent); latency only for delivered ones. */
  delivery(outcome: string, bounceClass: string | null | undefined, acceptedAt?: number, doneAt?: number): void {
    this.deliveries.inc({ outcome, bounce_class: bounceClass ?? '' });
    if (outcome === 'delivered' && acceptedAt !== undefined && doneAt !== undefined) this.deliverySeconds.observe(Math.max(0, (doneAt - acceptedAt) / 1000));
  }

  /** How a delivered copy crossed the wire: a TLS protocol (`TLSv1.3`) or `none`. */
  deliveredOver(tls: string): void {
    this.deliveredTls.inc({ tls });
  }

  mtaSts(mode: string, result: string): void {
    this.mtaStsResults.inc({ mode, result });
  }

  /** A send the throttle put back: `destination` is its rule's name (a domain or mx:<suffix>). */
  throttled(destination: string, reason: string): void {
    this.throttles.inc({ destination: this.domains.label(destination.toLowerCase()), reason });
  }

  remoteReply(domain: string, code: number | undefined): void {
    this.remoteReplies.inc({ domain: this.domains.label(domain.toLowerCase()), class: replyClass(code) });
  }

  sentFrom(pool: string, source: string, code: number | undefined): void {
    this.sourceReplies.inc({ pool, source, class: replyClass(code) });
  }

  dkimSign(seconds: number): void {
    this.dkimSeconds.observe(seconds);
  }

  webhook(result: string): void {
    this.webhooks.inc({ result });
  }

  /** An observer for one coalescer's group sizes. */
  groupSize(coalescer: string): (items: number) => void {
    return (items) => this.groupSizes.observe({ coalescer }, items);
  }

  smtpSession(open: boolean): void {
    if (open) {
      this.smtpSessions.inc();
      this.smtpActive.inc();
    } else this.smtpActive.dec();
  }

  smtpAuthFailed(): void {
    this.smtpAuthFailures.inc();
  }

  smtpRejected(stage: string, reply: string): void {
    this.smtpRejections.inc({ stage, reply });
  }

  dnsCheck(result: 'ok' | 'failing' | 'inconclusive'): void {
    this.dnsChecks.inc({ result });
  }

  domainEvent(event: string): void {
    this.domainEvents.inc({ event });
  }

  complaintSource(verdict: 'trusted' | 'untrusted' | 'retry'): void {
    this.complaintVerdicts.inc({ verdict });
  }

  reputationPass(result: 'clear' | 'suspended' | 'mass_stop' | 'failed'): void {
    this.reputationPasses.inc({ result });
  }
}
