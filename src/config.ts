import os from 'node:os';
import path from 'node:path';
import type { WebhookSettings } from './webhooks/settings';
import { parseThrottleRules, ThrottleRules } from './throttle/rules';
import { isMxTlsPolicy, MxTlsPolicy, parseMxTlsDomains } from './delivery/tls-policy';
import { IpPools, parseDefaultPool, parseIpPools } from './delivery/ip-pools';
import { parseTrustedSources, TrustedSources } from './inbound/trusted-sources';

/** Raised for a bad environment value; main prints its message as one line and exits. */
export class ConfigError extends Error {}

export type Role = 'all' | 'api' | 'worker' | 'smtp' | 'migrate';
export const ROLES: readonly Role[] = ['all', 'api', 'worker', 'smtp', 'migrate'];

export interface Config {
  /** ROLE: which part of Postern this process runs (the CLI argument wins). Default `all`. */
  role: Role;
  /** PORT: HTTP port of the api role. Default 8080; 0 picks a free port. */
  port: number;
  /** HOST: address the HTTP server binds. Default 0.0.0.0. */
  host: string;
  /** DATA_DIR: where the embedded SQLite database and generated secrets live. Default ./data. */
  dataDir: string;
  /** DATABASE_URL: mysql://user:pass@host:port/db for MySQL/MariaDB; unset = embedded SQLite. */
  databaseUrl: string | null;
  /** REDIS_URL: redis://host:port for BullMQ and shared counters; unset = in-process queue. */
  redisUrl: string | null;
  /** REDIS_PREFIX: prefix of every Redis key this install writes. Default `postern`. */
  redisPrefix: string;
  /** ADMIN_API_KEY: the install-wide admin key; unset = one is generated at first start. */
  adminApiKey: string | null;
  /** ENCRYPTION_KEY: 32 bytes (64 hex chars or base64) that encrypt DKIM private keys at rest. */
  encryptionKey: Buffer | null;
  /**
   * ENCRYPTION_KEY_PREVIOUS: keys ENCRYPTION_KEY replaced (comma-separated, same format), during a rotation: stored
   * secrets sealed with one still open, and tracking links and bounce addresses made with one are still taken, until
   * `postern reencrypt` has resealed every secret and the links have aged out (docs/secrets.md).
   */
  previousEncryptionKeys: Buffer[];
  /** SESSION_IDLE_SECONDS: a SessionID expires after this much inactivity. Default 3600. */
  sessionIdleSeconds: number;
  /** SESSION_MAX_SECONDS: a SessionID expires this long after sign-in however active it is (300–31,536,000). Default 7 days. */
  sessionMaxSeconds: number;
  /** INBOUND_RETENTION_DAYS: mail received by the bounce intake is kept this many days (1–3650). Default 30. */
  inboundRetentionDays: number;
  /** MESSAGE_RETENTION_DAYS: sent messages whose deliveries have ended are deleted this many days after they were accepted (0–3650; 0 keeps them). Default 0. */
  messageRetentionDays: number;
  /** PASSWORD_HASH_COST: scrypt work factor as log2(N) for new password hashes. Default 15; below 15 only with NODE_ENV=test. */
  passwordHashCost: number;
  /** PASSWORD_CHECK_CONCURRENCY: scrypt password checks run at once per process (src/auth/password-gate.ts). Default 2. */
  passwordCheckConcurrency: number;
  /** PASSWORD_CHECK_QUEUE: checks that may wait behind them; past that a login is refused as busy at once. Default 32. */
  passwordCheckQueue: number;
  /** MAIL_HOSTNAME: this install's public mail host; customers' CNAME records point at it. */
  mailHostname: string;
  /** MFROM_SUBDOMAIN: default return-path label, `<label>.<domain>`. Default `sl`. */
  mfromSubdomain: string;
  /** TRACK_PREFIX: default tracking-host prefix. Default `track`. */
  trackPrefix: string;
  /** TRACKING_BASE_URL: fixed base (scheme://host[:port]) for tracking links instead of each domain's tracking host. Unset = per domain. */
  trackingBaseUrl: string | null;
  /** TRACKING_SCHEME: scheme of per-domain tracking links. Default https. */
  trackingScheme: 'http' | 'https';
  /** MACHINE_HIT_SECONDS: an open or click this soon after delivery is flagged as a likely machine hit. Default 2. */
  machineHitSeconds: number;
  /** SENDEMAIL_FULL_LIST: 1 = a TargetListID send pages through the whole list; default 0 = the first 250 by email. */
  sendEmailFullList: boolean;
  /**
   * LIST_PAGE_BYTES: a list send's or campaign's page holds at most this many bytes of stored messages (each message
   * stores its own copy of the content), so big content makes pages of fewer members; and a batch send's messages
   * store at most this many bytes of template content (code 48). Default 50331648 (48 MiB).
   */
  listPageBytes: number;
  /** TRACK_MERGE: joins the tracking prefix and the MFROM label. Default `-`. */
  trackMerge: string;
  /** DKIM_SELECTOR: selector of the per-domain DKIM key. Default `key1`. */
  dkimSelector: string;
  /** DNS_WATCH_INTERVAL_SECONDS: how often the worker re-verifies each Enabled domain's records. Default 86400 (daily); 0 turns the watch off. */
  dnsWatchIntervalSeconds: number;
  /** DNS_FAILURE_GRACE_HOURS: how long a required record may stay broken before its domain goes back to Approval Pending. Default 72. */
  dnsFailureGraceHours: number;
  /** DKIM_PREVIOUS_KEY_HOURS: how long a rotated-out DKIM key (and its record in the list) is kept after the switch. Default 168 (7 days). */
  dkimPreviousKeyHours: number;
  /**
   * The reputation guard (src/domains/reputation-guard.ts): a sender domain whose last 24 hours hold at least
   * REPUTATION_MIN_MESSAGES (500) outcomes, with REPUTATION_SUSPEND_BOUNCE_PERCENT (10) of them hard bounces, or
   * REPUTATION_SUSPEND_COMPLAINT_PERCENT (0.5) of its deliveries complained about and at least
   * REPUTATION_MIN_COMPLAINTS (25) complaints, is Suspended. A percentage of 0 turns that check off;
   * REPUTATION_CHECK_INTERVAL_SECONDS (300) is how often the worker looks, 0 = never.
   */
  reputation: { bouncePercent: number; complaintPercent: number; minMessages: number; minComplaints: number; checkIntervalSeconds: number };
  /** DOMAIN_CACHE_MS: how long a delivery worker reuses a sender domain's row (status, DKIM key and selector). Default 10000. */
  domainCacheMs: number;
  /** DMARC_RECORD: the DMARC policy we suggest publishing. Default `v=DMARC1; p=none`. */
  dmarcRecord: string;
  /** DNS_SERVERS: comma-separated resolvers for domain verification (host, host:port, [v6]:port). */
  dnsServers: string[];
  /** DNS_TIMEOUT_MS: per-query timeout of verification lookups. Default 3000. */
  dnsTimeoutMs: number;
  /** SMTP_PUBLIC_HOST: host shown to customers in SMTP credentials. Default MAIL_HOSTNAME. */
  smtpPublicHost: string;
  /** SMTP_PUBLIC_PORTS: ports shown to customers in SMTP credentials. Default: the relay front's listeners (SMTP_PORT, SMTP_SUBMISSION_PORT, SMTP_TLS_PORT when it listens). */
  smtpPublicPorts: number[];
  /** LOG_LEVEL: winston level (error, warn, info, debug). Default `info`. */
  logLevel: string;
  /** TRUST_PROXY: express `trust proxy` value, for client IPs behind a load balancer. Default `loopback`. */
  trustProxy: boolean | number | string;
  /** MAX_REQUEST_BYTES: largest accepted HTTP body. Default 31457280 (30 MiB). */
  maxRequestBytes: number;
  /** MAX_BODY_BYTES_IN_FLIGHT: request body bytes one process reads at once; past it, 503. Default 268435456 (256 MiB). */
  maxBodyBytesInFlight: number;
  /** HTTP_MAX_CONNECTIONS: open HTTP connections one api process holds; more are dropped at once. Default 10000. */
  httpMaxConnections: number;
  /** HTTP_HEADERS_TIMEOUT_MS: how long a client may take to send a request's headers (then 408 and closed). Default 20000. */
  httpHeadersTimeoutMs: number;
  /** HTTP_REQUEST_TIMEOUT_MS: how long a client may take to send a whole request, body included (then 408). Default 120000. */
  httpRequestTimeoutMs: number;
  /** BATCH_ACCEPT_CONCURRENCY: batch sends (up to 1,000 messages each) accepted at once per api process; the rest wait in line. Default 2. */
  batchAcceptConcurrency: number;
  /** BATCH_ACCEPT_QUEUE: batch sends that may wait for their turn; one more is answered 503 with Retry-After. Default 8. */
  batchAcceptQueue: number;
  /** BATCH_ACCEPT_WAIT_SECONDS: longest a batch send waits for its turn before a 503 with Retry-After. Default 30. */
  batchAcceptWaitSeconds: number;
  /**
   * GROUP_COMMIT_OVERLAP_MS: how long a group commit of small submissions (or a shared suppression lookup) runs
   * before a second may start beside it. Default 0 (at once); 50 in the smtp role.
   */
  groupCommitOverlapMs: number;
  /**
   * HEAP_GROWING_PERCENT: how far V8 lets the old generation grow past what the last full GC kept before it collects
   * again (V8's --heap-growing-percent, set at start-up by `postern <role>`); 0 leaves V8's own choice (up to 300 %
   * on a large machine). Default 30. A node flag of the same name given by the operator wins.
   */
  heapGrowingPercent: number;
  /** SHUTDOWN_TIMEOUT_MS: how long SIGTERM waits for in-flight work. Default 10000. */
  shutdownTimeoutMs: number;
  /** DELIVERY_MODE: `mx` (recipient MX, port MX_PORT), `relay` (everything to SMTP_RELAY_URL) or `capture` (signed and stored, never sent). Default mx; capture under POSTERN_DEV=1. */
  deliveryMode: 'mx' | 'relay' | 'capture';
  /** CAPTURE_MAX_MESSAGES / CAPTURE_MAX_AGE_SECONDS: how many captured messages are kept, and how long. Defaults 1000 / 604800 (7 days). */
  captureMaxMessages: number;
  captureMaxAgeSeconds: number;
  /** POSTERN_DEV: 1 = development mode: names reserved for testing (RFC 2606/6761) verify without DNS. Refused with DATABASE_URL or NODE_ENV=production. */
  devMode: boolean;
  /** A production deployment: DATABASE_URL set or NODE_ENV=production. Development mode never applies to one. */
  production: boolean;
  /** SMTP_RELAY_URL: smtp://user:pass@host:port (or smtps://) of the smarthost for DELIVERY_MODE=relay. */
  smtpRelayUrl: string | null;
  /**
   * SMTP_RELAY_MAX_CONNECTIONS: sessions one worker process opens to SMTP_RELAY_URL at most (sends beyond wait for a
   * free one). Default 20: a smarthost counts connections per client address (Postfix's smtpd_client_connection_count_limit
   * is 50), and each worker process is a client of its own.
   */
  smtpRelayMaxConnections: number;
  /** MX_PORT: port used on recipient MX hosts. Default 25. */
  mxPort: number;
  /**
   * MX_ALLOW_PRIVATE: 1 = deliver to MX hosts on loopback, private, link-local and other non-public addresses.
   * Default 0: a recipient domain whose MX (or address) points there is refused (550 5.4.4), so no sender can make
   * the worker connect to this network's own hosts.
   */
  mxAllowPrivate: boolean;
  /**
   * MX_TLS: TLS to recipient MX hosts (DELIVERY_MODE=mx), as Postfix's smtp_tls_security_level. `may` (default):
   * STARTTLS whenever offered, any certificate (what MX hosts commonly present), in clear when a host offers none or
   * refuses it or its handshake fails (after the other MX hosts had their turn). `encrypt`: never in clear; a host without STARTTLS is passed over for the next MX, and with none left
   * the delivery is deferred. `verify`: `encrypt`, and the certificate must be valid for the MX host's name.
   */
  mxTls: MxTlsPolicy;
  /** MX_TLS_DOMAINS: `domain=policy,…` overriding MX_TLS for those recipient domains (`.domain`: its subdomains). */
  mxTlsDomains: Record<string, MxTlsPolicy>;
  /**
   * SENDING_IP_POOLS: JSON `{"<pool>": [{"address": "<IP>", "hostname": "<EHLO name>"}, …]}`. In DELIVERY_MODE=mx a
   * sender domain's connections leave from an address of its pool (emailgateway.setdomainstatus IPPool, admin) and
   * greet with that address's hostname. Empty: no pools.
   */
  sendingIpPools: IpPools;
  /** DEFAULT_IP_POOL: the pool of domains with none of their own; unset = the OS default source and MAIL_HOSTNAME. */
  defaultIpPool: string | null;
  /** MX_TLS_CA_FILE: PEM file of CAs trusted for MX_TLS=verify and MTA-STS besides Node's own (a private MX's CA). */
  mxTlsCaFile: string | null;
  /**
   * MTA_STS: 1 (default) = honour recipient domains' MTA-STS policies (RFC 8461) in DELIVERY_MODE=mx: under `enforce`,
   * only the MX hosts the policy names, over TLS with a certificate valid for the host (as MX_TLS=verify), else
   * deferred. An MX_TLS_DOMAINS entry for the domain takes precedence. 0 = ignore them.
   */
  mtaSts: boolean;
  /** MTA_STS_PORT: the HTTPS port policies are fetched from (mta-sts.<domain>). Default 443; tests use another. */
  mtaStsPort: number;
  /**
   * DELIVERY_CONCURRENCY: deliveries one worker process sends at once. Default 100: lease and settle groups grow with
   * it (about a third of it each), and their database cost is mostly per statement, not per row.
   */
  deliveryConcurrency: number;
  /**
   * DELIVERY_MAX_BYTES_IN_FLIGHT: message-body bytes one worker process holds between lease and settle. A delivery
   * waits for room before its body is read; one body bigger than this goes alone. Default 33554432 (32 MiB): with
   * large bodies a worker's RSS grew by 3 to 4.5 times the bytes held (the stored body, the composed copy, buffers).
   */
  deliveryMaxBytesInFlight: number;
  /** RETRY_SCHEDULE_SECONDS: waits after each temporary failure; the last repeats. */
  retryScheduleSeconds: number[];
  /** DELIVERY_MAX_AGE_SECONDS: a delivery still deferred this long after it was first due (acceptance, or its SendAt) fails. Default 172800 (48 h). */
  deliveryMaxAgeSeconds: number;
  /**
   * SUSPENSION_HOLD_MAX_SECONDS: a delivery held this long for its sender domain's suspension fails (3600 – 30 days);
   * a suspension never lifted must not keep mail for ever, nor a late lift send it weeks late. Default 432000 (5 days).
   */
  suspensionHoldMaxSeconds: number;
  /** SWEEP_INTERVAL_SECONDS / SWEEP_GRACE_SECONDS: how often, and how overdue, work is re-enqueued from the database. */
  sweepIntervalSeconds: number;
  sweepGraceSeconds: number;
  /** LEASE_SECONDS: how long a worker owns a delivery it is sending; a crashed worker's lease expires. Default 300. */
  leaseSeconds: number;
  /**
   * THROTTLE_RULES: JSON limits per recipient domain, `mx:<host suffix>` or `default`, over the built-in ones for the
   * large mailbox providers (src/throttle/rules.ts, docs/queue-and-throttling.md). Unset = the built-in ones.
   */
  throttleRules: ThrottleRules;
  /** THROTTLE_BACKOFF_SECONDS: how long a destination's rate stays halved after its last rate-limit reply. Default 600; 0 turns adaptive backoff off. */
  throttleBackoffSeconds: number;
  /** Soft bounces (messages that finally failed with a soft or mailbox-full reply) of one address from one domain before it is suppressed as a hard bounce. */
  softBounceLimit: number;
  /** DKIM_SIGNING: 1 signs every message with the domain's key (default); 0 only for measurements. */
  dkimSigning: boolean;
  /** MAX_ATTACHMENT_BYTES: decoded attachment bytes allowed per message. Default 26214400 (25 MiB). */
  maxAttachmentBytes: number;
  /** API_RATE_LIMIT_PER_MINUTE: requests per sender key per minute on the v1 routes. Default 100; 0 turns it off. */
  apiRateLimitPerMinute: number;
  /** DB_POOL_MAX: MySQL connections per process. Default 20. */
  dbPoolMax: number;
  /** DB_CONNECT_TIMEOUT_MS: how long opening a MySQL connection may take. Default 2000. */
  dbConnectTimeoutMs: number;
  /** DB_ACQUIRE_TIMEOUT_MS: how long a query waits for a free pooled connection before answering 503. Default 2000. */
  dbAcquireTimeoutMs: number;
  /** DB_QUERY_TIMEOUT_MS: how long one MySQL statement may take before it is abandoned (503); 0 turns it off. Migrations have none. Default 3000. */
  dbQueryTimeoutMs: number;
  /** DELETE_CHUNK_ROWS: rows one statement of a large deletion (a list's members, a domain's, account's or webhook's history) removes, or of a queue-wide change (queue control, a domain's queue cleared, held or released, kept suppressions restored) touches. Default 5000. */
  deleteChunkRows: number;
  /** REDIS_COMMAND_TIMEOUT_MS: how long a Redis command on the request path (rate limits, enqueue) may take. Default 1000. */
  redisCommandTimeoutMs: number;
  /** IDEMPOTENCY_LEASE_SECONDS: how long a request holds its Idempotency-Key before a retry may take it over. Default 15. */
  idempotencyLeaseSeconds: number;
  /** SENDER_AUTH_CACHE_MS: how long a process reuses a sender-key lookup or a verified SMTP AUTH. Default 1000; 0 turns it off. */
  senderAuthCacheMs: number;
  /** CAMPAIGN_PROGRESS_PAGE: a campaign's messages per progress-counting statement, and list members per launch-counting one. Default 20000. */
  campaignProgressPage: number;
  /** CAMPAIGN_PROGRESS_LIVE_MS: a campaign counted faster than this is counted on every read; a slower one is reused (src/campaigns/progress.ts). Default 50. */
  campaignProgressLiveMs: number;
  /** CONTACT_COUNT_PAGE: addresses per list per statement when account.overview counts an account's contacts. Default 20000. */
  contactCountPage: number;
  /** CONTACT_COUNT_LIVE_MS: an account's contacts (or a contacts listing's total, subscribers.get's TotalSubscribers) counted faster than this are counted on every read; slower ones are reused (src/lists/contact-count.ts). Default 50. */
  contactCountLiveMs: number;
  /** SMTP_PORT: the relay front's plain port (STARTTLS offered). Default 2525. */
  smtpPort: number;
  /** SMTP_SUBMISSION_PORT: a second listener, conventionally 587 (STARTTLS; needs the right to bind it). Default 0 (off). */
  smtpSubmissionPort: number;
  /** SMTP_TLS_PORT: implicit-TLS listener (465), only when SMTP_TLS_CERT and SMTP_TLS_KEY are set. 0 turns it off. */
  smtpTlsPort: number;
  /** SMTP_TLS_CERT / SMTP_TLS_KEY: PEM files; unset = a self-signed pair made in DATA_DIR at first start. */
  smtpTlsCert: string | null;
  smtpTlsKey: string | null;
  /** SMTP_HOST: address the SMTP listeners bind. Default 0.0.0.0. */
  smtpHost: string;
  /** SMTP_ALLOW_INSECURE_AUTH: 1 allows AUTH without TLS from any address (loopback always may). */
  smtpAllowInsecureAuth: boolean;
  /** SMTP_MAX_MESSAGE_BYTES: largest message the front accepts. Default 26214400. */
  smtpMaxMessageBytes: number;
  /** SMTP_MAX_RECIPIENTS: recipients per message. Default 100. */
  smtpMaxRecipients: number;
  /** SMTP_MAX_CONNECTIONS_PER_IP: concurrent connections one address may hold. Default 50. */
  smtpMaxConnectionsPerIp: number;
  /** SMTP_MAX_CONNECTIONS: concurrent connections one SMTP listener holds from all addresses; more are answered 421. Default 2000. */
  smtpMaxConnections: number;
  /** SMTP_MAX_CONNECTIONS_PER_ACCOUNT: authenticated relay connections one account may hold per process; AUTH past it answers 421. Default 200. */
  smtpMaxConnectionsPerAccount: number;
  /** SMTP_SESSION_MAX_SECONDS: a relay connection open this long is closed (421 4.4.2) once no message is on its way. Default 3600. */
  smtpSessionMaxSeconds: number;
  /** SMTP_MAX_AUTH_FAILURES: failed AUTH attempts one address may make in 15 minutes. Default 10. */
  smtpMaxAuthFailures: number;
  /** API_MAX_AUTH_FAILURES: different wrong credentials one address may present to the HTTP API in 15 minutes, then 429 for every credential till the window ends; 0 = no limit. Default 100. */
  apiMaxAuthFailures: number;
  /** SMTP_AUTH_TIMEOUT_SECONDS: a relay connection not authenticated this long after it opened is closed (421); SMTP_TRUSTED_CLIENTS are exempt. Default 60. */
  smtpAuthTimeoutSeconds: number;
  /** SMTP_GREETING_DELAY_MS: how long the relay front waits before its greeting (smtp-server's own pause is 100 ms; a client that talks first is refused). Default 0. */
  smtpGreetingDelayMs: number;
  /** SMTP_TRUSTED_CLIENTS: `ip=smtp_username,…` — connections from these addresses send as that credential without AUTH (internal app servers, load tools). */
  smtpTrustedClients: Record<string, string>;
  /** INBOUND_SMTP_PORT: listener for bounces and complaint reports to the MFROM hosts (point their MX here; 25 in production). Default 2526. */
  inboundSmtpPort: number;
  /** INBOUND_MAX_MESSAGES_PER_MINUTE: messages the intake takes from one client (an IPv4 address or IPv6 /64) a minute; more get 451. Default 600; 0 turns it off. */
  inboundMaxMessagesPerMinute: number;
  /** INBOUND_SESSION_MAX_SECONDS: a bounce intake connection open this long is closed (421 4.4.2), however active: there is no AUTH to wait for. Default 600. */
  inboundSessionMaxSeconds: number;
  /**
   * COMPLAINT_TRUSTED_SOURCES: `feedback@fbl.example.net, fbl.example.org, .fbl.example.com, 192.0.2.25, 10.1.0.0/16`
   * (commas or spaces). When set, an ARF complaint counts only when one entry vouches for it; any other is stored as
   * `untrusted` and changes nothing (src/inbound/complaint-trust.ts). Entries:
   * - `feedback@fbl.example.net`, a reporter address: the report has exactly one From, that address (case-insensitive),
   *   and a DKIM signature verifies whose d= is its domain or a parent domain (relaxed alignment) and whose h= covers
   *   From. The form for a mailbox provider's loop, whose domain also signs every user's mail.
   * - `fbl.example.org`, a bare domain: a DKIM signature with d= exactly that domain verifies. Only for a domain that
   *   signs nothing but feedback reports, never a mailbox provider's main domain (its users can send a report).
   * - `.fbl.example.com`: the same for that domain and any domain under it.
   * - an IP address or CIDR range: matched against the intake's TCP peer (behind a proxy or load balancer, its address).
   * A signature counts only without `l=`, with h= covering Content-Type, on a report of at most 2 MiB with one
   * Content-Type, From, Subject and Message-ID field. Unset (null): every complaint that names its delivery counts.
   */
  complaintTrustedSources: TrustedSources | null;
  /** WEBHOOK_*: how webhook calls are made, retried and given up (see WebhookSettings for each variable). */
  webhooks: WebhookSettings;
  /** OPS_PORT: the worker and smtp roles' listener for /healthz, /readyz and /metrics (the api role serves them on PORT). Default 9464; 0 picks a free port. */
  opsPort: number;
  /** OPS_HOST: address the ops listener binds. Default HOST. */
  opsHost: string;
  /** METRICS_TOKEN: when set, /metrics answers only `Authorization: Bearer <token>`. Unset = open. */
  metricsToken: string | null;
  /** METRICS_TOP_DOMAINS: destination domains that get their own label in the remote-reply metric; the rest count as `other`. Default 20. */
  metricsTopDomains: number;
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

/** Names express's trust proxy knows (proxy-addr's ranges); anything else is compiled to be checked. */
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY as express takes it: a hop count as a number and true/false as booleans. Passed on as the strings they
 * are, express read "1" as the address 0.0.0.1: X-Forwarded-For was never trusted and every client behind the load
 * balancer had its address, so one client's wrong credentials locked every client out (the guess and login limits)
 * and BoundIPAddress could name only the balancer. A list is compiled here by express itself (its proxy-addr), so
 * what it refuses stops the config, not the api role's start.
 */
function trustProxy(v: string): boolean | number | string {
  const t = v.trim();
  if (/^(true|false)$/i.test(t)) return t.toLowerCase() === 'true';
  if (/^\d+$/.test(t)) return Number(t);
  if (t.split(',').every((p) => PROXY_NAMES.has(p.trim()))) return t;
  try {
    // Loaded here only: the config is read by roles and CLI commands that never load express.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('express') as () => { set(k: string, v: unknown): void })().set('trust proxy', t);
  } catch (err) {
    throw new ConfigError(
      `TRUST_PROXY: ${(err as Error).message}; give a hop count, true, false, or a comma-separated list of loopback, linklocal, uniquelocal, IP addresses and ranges`,
    );
  }
  return t;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number (got "${raw}")`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max} (got ${n})`);
  return n;
}

/** A percentage from 0 to 100, decimals allowed (0.5). */
function percent(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = raw.trim();
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) > 100) throw new ConfigError(`${name} must be a percentage from 0 to 100 (got "${raw}")`);
  return Number(v);
}

/** A yes/no switch: 1/true/yes/on or 0/false/no/off (unset = `fallback`, off unless given); anything else is an error. */
function flag(env: Env, name: string, fallback = false): boolean {
  const v = String(env[name] ?? '')
    .trim()
    .toLowerCase();
  if (v === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be 1 or 0 (got "${env[name]}")`);
}

function label(env: Env, name: string, fallback: string): string {
  const v = str(env, name, fallback);
  if (!/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/i.test(v)) {
    throw new ConfigError(`${name} must be a DNS label of letters, digits and inner hyphens, at most 32 long (got "${v}")`);
  }
  return v.toLowerCase();
}

function trackMerge(env: Env): string {
  const v = env.TRACK_MERGE === undefined ? '-' : env.TRACK_MERGE;
  if (!['', '-', '.'].includes(v)) throw new ConfigError(`TRACK_MERGE must be "-", "." or empty (got "${v}")`);
  return v;
}

/**
 * Test-only: RETRY_SCHEDULE_MS, SWEEP_INTERVAL_MS, SWEEP_GRACE_MS, DELIVERY_MAX_AGE_MS and SUSPENSION_HOLD_MAX_MS give
 * those settings in milliseconds so the suite waits fractions of a second instead of whole ones. They are refused outside
 * NODE_ENV=test, and become fractional seconds in the usual fields, so the code that reads them is the code
 * production runs.
 */
function testMs(env: Env, name: string, max: number): number | undefined {
  if (env[name] === undefined || env[name] === '') return undefined;
  if (env.NODE_ENV !== 'test') throw new ConfigError(`${name} is for the test suite only (NODE_ENV=test); use ${name.replace(/_MS$/, '_SECONDS')}`);
  return int(env, name, 0, 1, max) / 1000;
}

function retrySchedule(env: Env): number[] {
  if (env.RETRY_SCHEDULE_MS) {
    const ms = env.RETRY_SCHEDULE_MS.split(',').map((s) => s.trim());
    if (ms.some((s) => !/^\d+$/.test(s) || Number(s) < 1))
      throw new ConfigError(`RETRY_SCHEDULE_MS must be comma-separated milliseconds (got "${env.RETRY_SCHEDULE_MS}")`);
    return ms.map((s) => testMs({ NODE_ENV: env.NODE_ENV, RETRY_SCHEDULE_MS: s }, 'RETRY_SCHEDULE_MS', 86_400_000)!);
  }
  const raw = str(env, 'RETRY_SCHEDULE_SECONDS', '60,300,900,1800,3600,7200,14400,28800');
  const list = raw.split(',').map((s) => s.trim());
  if (!list.length || list.some((s) => !/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 86400)) {
    throw new ConfigError(`RETRY_SCHEDULE_SECONDS must be comma-separated seconds between 1 and 86400 (got "${raw}")`);
  }
  return list.map(Number);
}

function throttleRules(env: Env): ThrottleRules {
  try {
    return parseThrottleRules(env.THROTTLE_RULES);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function complaintTrustedSources(env: Env): TrustedSources | null {
  const parsed = parseTrustedSources(env.COMPLAINT_TRUSTED_SOURCES);
  if (parsed && 'bad' in parsed) {
    throw new ConfigError(`COMPLAINT_TRUSTED_SOURCES entry "${parsed.bad}" must be an address, a domain, a .domain, an IP address or a CIDR range`);
  }
  return parsed;
}

function trustedClients(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of str(env, 'SMTP_TRUSTED_CLIENTS', '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^([0-9a-f.:]+)=(smtp_[a-z0-9]+)$/i.exec(item);
    if (!m) throw new ConfigError(`SMTP_TRUSTED_CLIENTS entry "${item}" must be ip=smtp_username`);
    out[m[1].toLowerCase()] = m[2];
  }
  return out;
}

function parseKey(raw: string, name = 'ENCRYPTION_KEY'): Buffer {
  const s = raw.trim();
  if (/^[0-9a-f]{64}$/i.test(s)) return Buffer.from(s, 'hex');
  const b = Buffer.from(s, 'base64');
  if (b.length === 32 && /^[A-Za-z0-9+/=_-]+$/.test(s)) return b;
  throw new ConfigError(`${name} must be 32 bytes written as 64 hex characters or base64`);
}

/** ENCRYPTION_KEY_PREVIOUS: each listed key, none equal to ENCRYPTION_KEY (that would hide a rotation not made). */
function previousKeys(env: Env, current: Buffer | null): Buffer[] {
  const keys = (env.ENCRYPTION_KEY_PREVIOUS ?? '')
    .split(',')
    .filter((k) => k.trim())
    .map((k) => parseKey(k, 'ENCRYPTION_KEY_PREVIOUS'));
  if (keys.length && !current) throw new ConfigError('ENCRYPTION_KEY_PREVIOUS needs ENCRYPTION_KEY: the key that replaced them');
  if (current && keys.some((k) => k.equals(current))) throw new ConfigError('ENCRYPTION_KEY_PREVIOUS must not list ENCRYPTION_KEY itself');
  return keys;
}

function url(env: Env, name: string, schemes: string[]): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!schemes.includes(u.protocol.replace(/:$/, ''))) {
    throw new ConfigError(`${name} must start with ${schemes.map((s) => s + '://').join(' or ')}`);
  }
  return raw;
}

function trackingBase(env: Env): string | null {
  const raw = url(env, 'TRACKING_BASE_URL', ['http', 'https']);
  if (!raw) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`TRACKING_BASE_URL must be a URL such as https://track.example.com (got "${raw}")`);
  }
  if (u.pathname !== '/' || u.search || u.hash || u.username)
    throw new ConfigError('TRACKING_BASE_URL must be scheme://host[:port] with no path, query or credentials');
  return `${u.protocol}//${u.host}`;
}

/**
 * The relay front's listeners as `startSmtpFront` opens them (the TLS port only with a certificate): the truthful
 * default of SMTP_PUBLIC_PORTS. 0 (a free port chosen at start) cannot be known here and is left out.
 */
function listeningPorts(env: Env): number[] {
  const tls = env.SMTP_TLS_CERT && env.SMTP_TLS_KEY ? int(env, 'SMTP_TLS_PORT', 465, 0, 65535) : 0;
  return [int(env, 'SMTP_PORT', 2525, 0, 65535), int(env, 'SMTP_SUBMISSION_PORT', 0, 0, 65535), tls].filter((p) => p > 0);
}

/** Builds the one typed config object from the environment; throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env, roleArg?: string): Config {
  const roleRaw = (roleArg ?? str(env, 'ROLE', 'all')).toLowerCase();
  if (!ROLES.includes(roleRaw as Role)) {
    throw new ConfigError(`${roleArg !== undefined ? 'role argument' : 'ROLE'} must be one of ${ROLES.join(', ')} (got "${roleRaw}")`);
  }
  const databaseUrl = url(env, 'DATABASE_URL', ['mysql', 'mysql2', 'mariadb']);
  const encryptionKey = env.ENCRYPTION_KEY ? parseKey(env.ENCRYPTION_KEY) : null;
  if (databaseUrl && !encryptionKey) {
    throw new ConfigError('ENCRYPTION_KEY is required when DATABASE_URL is set (generate one with: openssl rand -hex 32)');
  }
  const httpHeadersTimeoutMs = int(env, 'HTTP_HEADERS_TIMEOUT_MS', 20_000, 100, 600_000);
  const httpRequestTimeoutMs = int(env, 'HTTP_REQUEST_TIMEOUT_MS', 120_000, 100, 3_600_000);
  // node refuses a headers timeout above the request timeout when it builds the server; say so at start.
  if (httpHeadersTimeoutMs > httpRequestTimeoutMs) {
    throw new ConfigError(`HTTP_HEADERS_TIMEOUT_MS (${httpHeadersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${httpRequestTimeoutMs})`);
  }
  const adminApiKey = env.ADMIN_API_KEY ? env.ADMIN_API_KEY : null;
  if (adminApiKey !== null && adminApiKey.length < 16) {
    throw new ConfigError('ADMIN_API_KEY must be at least 16 characters long');
  }
  // A repeated pattern ("aaaa…", "abab…") passes the length but is among an attacker's first guesses.
  if (adminApiKey !== null && new Set(adminApiKey).size < 8) {
    throw new ConfigError('ADMIN_API_KEY must use at least 8 different characters (generate one with: openssl rand -hex 24)');
  }
  const mailHostname = str(env, 'MAIL_HOSTNAME', os.hostname()).toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9.-]+$/.test(mailHostname)) throw new ConfigError(`MAIL_HOSTNAME must be a host name (got "${mailHostname}")`);
  const dnsServers = str(env, 'DNS_SERVERS', '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of dnsServers) {
    if (!/^(\[[0-9a-f:.]+\](:\d+)?|[0-9a-z.-]+(:\d+)?|[0-9a-f:]+)$/i.test(s)) {
      throw new ConfigError(`DNS_SERVERS entry "${s}" must be host, host:port or [ipv6]:port`);
    }
  }
  const portsRaw = str(env, 'SMTP_PUBLIC_PORTS', listeningPorts(env).join(','));
  const smtpPublicPorts = portsRaw === '' ? [] : portsRaw.split(',').map((p) => p.trim());
  if (smtpPublicPorts.some((p) => !/^\d{1,5}$/.test(p) || Number(p) > 65535)) {
    throw new ConfigError(`SMTP_PUBLIC_PORTS must be comma-separated port numbers (got "${portsRaw}")`);
  }
  const devMode = flag(env, 'POSTERN_DEV');
  const production = !!databaseUrl || env.NODE_ENV === 'production';
  // A cheap hash only for the test suite's fixture users: anywhere else a weak cost is refused at startup.
  const passwordHashCost = int(env, 'PASSWORD_HASH_COST', 15, 10, 17);
  if (passwordHashCost < 15 && env.NODE_ENV !== 'test') {
    throw new ConfigError(`PASSWORD_HASH_COST=${passwordHashCost} is below the minimum of 15; a lower cost is accepted only with NODE_ENV=test`);
  }
  if (devMode && production) {
    throw new ConfigError(
      `POSTERN_DEV=1 verifies test domains without DNS and cannot run with ${databaseUrl ? 'DATABASE_URL set' : 'NODE_ENV=production'} (a production deployment)`,
    );
  }
  const deliveryMode = str(env, 'DELIVERY_MODE', devMode ? 'capture' : 'mx').toLowerCase();
  if (deliveryMode !== 'mx' && deliveryMode !== 'relay' && deliveryMode !== 'capture')
    throw new ConfigError(`DELIVERY_MODE must be mx, relay or capture (got "${deliveryMode}")`);
  const smtpRelayUrl = url(env, 'SMTP_RELAY_URL', ['smtp', 'smtps']);
  if (deliveryMode === 'relay' && !smtpRelayUrl) throw new ConfigError('SMTP_RELAY_URL is required when DELIVERY_MODE=relay');
  const starttls = smtpRelayUrl ? new URL(smtpRelayUrl).searchParams.get('starttls') : null;
  if (starttls !== null && starttls !== 'required') throw new ConfigError(`SMTP_RELAY_URL's starttls must be "required" when given (got "${starttls}")`);
  const mxTls = str(env, 'MX_TLS', 'may').toLowerCase();
  if (!isMxTlsPolicy(mxTls)) throw new ConfigError(`MX_TLS must be may, encrypt or verify (got "${mxTls}")`);
  const mxTlsDomains = (() => {
    try {
      return parseMxTlsDomains(env.MX_TLS_DOMAINS);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  })();
  const [sendingIpPools, defaultIpPool] = (() => {
    try {
      // Both read whatever happens: tests/ops/deploy.test.ts finds the variables this module reads by reading them.
      const raw = { pools: env.SENDING_IP_POOLS, fallback: env.DEFAULT_IP_POOL };
      const pools = parseIpPools(raw.pools);
      return [pools, parseDefaultPool(raw.fallback, pools)] as const;
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  })();
  const logLevel = str(env, 'LOG_LEVEL', 'info');
  if (!['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of error, warn, info, debug (got "${logLevel}")`);
  }
  return {
    role: roleRaw as Role,
    port: int(env, 'PORT', 8080, 0, 65535),
    host: str(env, 'HOST', '0.0.0.0'),
    dataDir: path.resolve(str(env, 'DATA_DIR', './data')),
    databaseUrl,
    redisUrl: url(env, 'REDIS_URL', ['redis', 'rediss']),
    redisPrefix: str(env, 'REDIS_PREFIX', 'postern'),
    adminApiKey,
    encryptionKey,
    previousEncryptionKeys: previousKeys(env, encryptionKey),
    sessionIdleSeconds: int(env, 'SESSION_IDLE_SECONDS', 3600, 60, 30 * 86400),
    sessionMaxSeconds: int(env, 'SESSION_MAX_SECONDS', 7 * 86400, 300, 365 * 86400),
    inboundRetentionDays: int(env, 'INBOUND_RETENTION_DAYS', 30, 1, 3650),
    messageRetentionDays: int(env, 'MESSAGE_RETENTION_DAYS', 0, 0, 3650),
    passwordHashCost,
    passwordCheckConcurrency: int(env, 'PASSWORD_CHECK_CONCURRENCY', 2, 1, 64),
    passwordCheckQueue: int(env, 'PASSWORD_CHECK_QUEUE', 32, 0, 10000),
    mailHostname,
    mfromSubdomain: label(env, 'MFROM_SUBDOMAIN', 'sl'),
    trackPrefix: label(env, 'TRACK_PREFIX', 'track'),
    trackMerge: trackMerge(env),
    trackingBaseUrl: trackingBase(env),
    trackingScheme: str(env, 'TRACKING_SCHEME', 'https') === 'http' ? 'http' : 'https',
    machineHitSeconds: int(env, 'MACHINE_HIT_SECONDS', 2, 0, 3600),
    sendEmailFullList: ['1', 'true', 'yes'].includes(str(env, 'SENDEMAIL_FULL_LIST', str(env, 'EMAILGATEWAY_SENDEMAIL_FULL_LIST', '0')).toLowerCase()),
    listPageBytes: int(env, 'LIST_PAGE_BYTES', 48 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    dkimSelector: label(env, 'DKIM_SELECTOR', 'key1'),
    dmarcRecord: str(env, 'DMARC_RECORD', 'v=DMARC1; p=none'),
    dnsWatchIntervalSeconds: int(env, 'DNS_WATCH_INTERVAL_SECONDS', 86400, 0, 30 * 86400),
    dnsFailureGraceHours: int(env, 'DNS_FAILURE_GRACE_HOURS', 72, 0, 365 * 24),
    dkimPreviousKeyHours: int(env, 'DKIM_PREVIOUS_KEY_HOURS', 168, 0, 365 * 24),
    reputation: {
      bouncePercent: percent(env, 'REPUTATION_SUSPEND_BOUNCE_PERCENT', 10),
      complaintPercent: percent(env, 'REPUTATION_SUSPEND_COMPLAINT_PERCENT', 0.5),
      minMessages: int(env, 'REPUTATION_MIN_MESSAGES', 500, 1, 1_000_000_000),
      minComplaints: int(env, 'REPUTATION_MIN_COMPLAINTS', 25, 1, 1_000_000_000),
      checkIntervalSeconds: int(env, 'REPUTATION_CHECK_INTERVAL_SECONDS', 300, 0, 86400),
    },
    domainCacheMs: int(env, 'DOMAIN_CACHE_MS', 10_000, 0, 600_000),
    dnsServers,
    dnsTimeoutMs: int(env, 'DNS_TIMEOUT_MS', 3000, 100, 60000),
    smtpPublicHost: str(env, 'SMTP_PUBLIC_HOST', mailHostname),
    smtpPublicPorts: smtpPublicPorts.map(Number),
    logLevel,
    trustProxy: trustProxy(str(env, 'TRUST_PROXY', 'loopback')),
    maxRequestBytes: int(env, 'MAX_REQUEST_BYTES', 30 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxBodyBytesInFlight: int(env, 'MAX_BODY_BYTES_IN_FLIGHT', 256 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
    httpMaxConnections: int(env, 'HTTP_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
    httpHeadersTimeoutMs,
    httpRequestTimeoutMs,
    batchAcceptConcurrency: int(env, 'BATCH_ACCEPT_CONCURRENCY', 2, 1, 64),
    batchAcceptQueue: int(env, 'BATCH_ACCEPT_QUEUE', 8, 0, 1000),
    batchAcceptWaitSeconds: int(env, 'BATCH_ACCEPT_WAIT_SECONDS', 30, 1, 600),
    // The smtp role: each session has one message in flight, so a second flush at once only splits the same
    // sessions' messages into two smaller groups, and each group costs the front, MariaDB and the worker a
    // transaction, a queue job and a lease whatever its size (bench/README.md, "The SMTP front's group commits").
    groupCommitOverlapMs: int(env, 'GROUP_COMMIT_OVERLAP_MS', roleRaw === 'smtp' ? 50 : 0, 0, 60_000),
    heapGrowingPercent: int(env, 'HEAP_GROWING_PERCENT', 30, 0, 1000),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 0, 600000),
    deliveryMode,
    captureMaxMessages: int(env, 'CAPTURE_MAX_MESSAGES', 1000, 1, 1_000_000),
    captureMaxAgeSeconds: int(env, 'CAPTURE_MAX_AGE_SECONDS', 7 * 86400, 60, 365 * 86400),
    devMode,
    production,
    smtpRelayUrl,
    smtpRelayMaxConnections: int(env, 'SMTP_RELAY_MAX_CONNECTIONS', 20, 1, 1000),
    mxPort: int(env, 'MX_PORT', 25, 1, 65535),
    mxAllowPrivate: flag(env, 'MX_ALLOW_PRIVATE'),
    mxTls,
    mxTlsDomains,
    sendingIpPools,
    defaultIpPool,
    mxTlsCaFile: env.MX_TLS_CA_FILE || null,
    mtaSts: flag(env, 'MTA_STS', true),
    mtaStsPort: int(env, 'MTA_STS_PORT', 443, 1, 65535),
    deliveryConcurrency: int(env, 'DELIVERY_CONCURRENCY', 100, 1, 1000),
    deliveryMaxBytesInFlight: int(env, 'DELIVERY_MAX_BYTES_IN_FLIGHT', 32 << 20, 1 << 20, 2 ** 40),
    retryScheduleSeconds: retrySchedule(env),
    deliveryMaxAgeSeconds: testMs(env, 'DELIVERY_MAX_AGE_MS', 30 * 86_400_000) ?? int(env, 'DELIVERY_MAX_AGE_SECONDS', 172800, 1, 30 * 86400),
    suspensionHoldMaxSeconds: testMs(env, 'SUSPENSION_HOLD_MAX_MS', 30 * 86_400_000) ?? int(env, 'SUSPENSION_HOLD_MAX_SECONDS', 432000, 3600, 30 * 86400),
    sweepIntervalSeconds: testMs(env, 'SWEEP_INTERVAL_MS', 3_600_000) ?? int(env, 'SWEEP_INTERVAL_SECONDS', 30, 1, 3600),
    sweepGraceSeconds: testMs(env, 'SWEEP_GRACE_MS', 86_400_000) ?? int(env, 'SWEEP_GRACE_SECONDS', 60, 0, 86400),
    leaseSeconds: int(env, 'LEASE_SECONDS', 300, 1, 3600),
    throttleRules: throttleRules(env),
    throttleBackoffSeconds: int(env, 'THROTTLE_BACKOFF_SECONDS', 600, 0, 86400),
    softBounceLimit: int(env, 'SOFT_BOUNCE_LIMIT', 3, 1, 100),
    dkimSigning: str(env, 'DKIM_SIGNING', '1') !== '0',
    maxAttachmentBytes: int(env, 'MAX_ATTACHMENT_BYTES', 25 * 1024 * 1024, 0, 1024 * 1024 * 1024),
    apiRateLimitPerMinute: int(env, 'API_RATE_LIMIT_PER_MINUTE', 100, 0, 1_000_000),
    dbPoolMax: int(env, 'DB_POOL_MAX', 20, 1, 500),
    dbConnectTimeoutMs: int(env, 'DB_CONNECT_TIMEOUT_MS', 2000, 100, 600_000),
    dbAcquireTimeoutMs: int(env, 'DB_ACQUIRE_TIMEOUT_MS', 2000, 100, 600_000),
    dbQueryTimeoutMs: int(env, 'DB_QUERY_TIMEOUT_MS', 3000, 0, 3_600_000),
    deleteChunkRows: int(env, 'DELETE_CHUNK_ROWS', 5000, 1, 10_000),
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 1000, 50, 600_000),
    idempotencyLeaseSeconds: int(env, 'IDEMPOTENCY_LEASE_SECONDS', 15, 1, 3600),
    senderAuthCacheMs: int(env, 'SENDER_AUTH_CACHE_MS', 1000, 0, 60000),
    campaignProgressPage: int(env, 'CAMPAIGN_PROGRESS_PAGE', 20_000, 1, 1_000_000),
    campaignProgressLiveMs: int(env, 'CAMPAIGN_PROGRESS_LIVE_MS', 50, 0, 60_000),
    contactCountPage: int(env, 'CONTACT_COUNT_PAGE', 20_000, 1, 1_000_000),
    contactCountLiveMs: int(env, 'CONTACT_COUNT_LIVE_MS', 50, 0, 60_000),
    smtpPort: int(env, 'SMTP_PORT', 2525, 0, 65535),
    smtpSubmissionPort: int(env, 'SMTP_SUBMISSION_PORT', 0, 0, 65535),
    smtpTlsPort: int(env, 'SMTP_TLS_PORT', 465, 0, 65535),
    smtpTlsCert: env.SMTP_TLS_CERT || null,
    smtpTlsKey: env.SMTP_TLS_KEY || null,
    smtpHost: str(env, 'SMTP_HOST', '0.0.0.0'),
    smtpAllowInsecureAuth: str(env, 'SMTP_ALLOW_INSECURE_AUTH', '0') === '1',
    smtpMaxMessageBytes: int(env, 'SMTP_MAX_MESSAGE_BYTES', 25 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    smtpMaxRecipients: int(env, 'SMTP_MAX_RECIPIENTS', 100, 1, 10000),
    smtpMaxConnectionsPerIp: int(env, 'SMTP_MAX_CONNECTIONS_PER_IP', 50, 1, 100000),
    smtpMaxConnectionsPerAccount: int(env, 'SMTP_MAX_CONNECTIONS_PER_ACCOUNT', 200, 1, 100000),
    smtpSessionMaxSeconds: testMs(env, 'SMTP_SESSION_MAX_MS', 86_400_000) ?? int(env, 'SMTP_SESSION_MAX_SECONDS', 3600, 60, 86400),
    smtpMaxConnections: int(env, 'SMTP_MAX_CONNECTIONS', 2000, 1, 1_000_000),
    smtpMaxAuthFailures: int(env, 'SMTP_MAX_AUTH_FAILURES', 10, 1, 100000),
    apiMaxAuthFailures: int(env, 'API_MAX_AUTH_FAILURES', 100, 0, 1_000_000),
    smtpAuthTimeoutSeconds: testMs(env, 'SMTP_AUTH_TIMEOUT_MS', 3_600_000) ?? int(env, 'SMTP_AUTH_TIMEOUT_SECONDS', 60, 5, 3600),
    inboundSmtpPort: int(env, 'INBOUND_SMTP_PORT', 2526, 0, 65535),
    inboundMaxMessagesPerMinute: int(env, 'INBOUND_MAX_MESSAGES_PER_MINUTE', 600, 0, 1_000_000),
    inboundSessionMaxSeconds: testMs(env, 'INBOUND_SESSION_MAX_MS', 86_400_000) ?? int(env, 'INBOUND_SESSION_MAX_SECONDS', 600, 60, 86400),
    smtpTrustedClients: trustedClients(env),
    complaintTrustedSources: complaintTrustedSources(env),
    smtpGreetingDelayMs: int(env, 'SMTP_GREETING_DELAY_MS', 0, 0, 10_000),
    webhooks: {
      allowPrivate: flag(env, 'WEBHOOK_ALLOW_PRIVATE'),
      timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      pollMs: int(env, 'WEBHOOK_POLL_MS', 1000, 10, 60_000),
      maxFailures: int(env, 'WEBHOOK_MAX_FAILURES', 100, 1, 100_000),
      retryBaseMs: int(env, 'WEBHOOK_RETRY_BASE_MS', 10_000, 10, 3_600_000),
      maxAgeMs: int(env, 'WEBHOOK_MAX_AGE_SECONDS', 86_400, 1, 30 * 86_400) * 1000,
      concurrency: int(env, 'WEBHOOK_CONCURRENCY', 10, 1, 200),
      keyGraceMs: int(env, 'WEBHOOK_KEY_GRACE_SECONDS', 86_400, 0, 30 * 86_400) * 1000,
      leaseGraceMs: (testMs(env, 'WEBHOOK_LEASE_GRACE_MS', 600_000) ?? int(env, 'WEBHOOK_LEASE_GRACE_SECONDS', 60, 10, 600)) * 1000,
    },
    opsPort: int(env, 'OPS_PORT', 9464, 0, 65535),
    opsHost: str(env, 'OPS_HOST', str(env, 'HOST', '0.0.0.0')),
    metricsToken: env.METRICS_TOKEN ? env.METRICS_TOKEN : null,
    metricsTopDomains: int(env, 'METRICS_TOP_DOMAINS', 20, 0, 1000),
  };
}
