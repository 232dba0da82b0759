import type { Redis } from 'ioredis';
import type { Config } from './config';
import type { AccountKeyScope, AccountPermission, DomainRow, UserRow } from './model';
export type { UserRow } from './model';
import type { Db } from './db';
import type { Logger } from './logger';
import type { DnsVerifier } from './domains/dns-verify';
import type { QueueFactory } from './queue/port';
import type { RateLimits } from './ratelimit/limits';
import type { Metrics } from './ops/metrics';
import type { PasswordGate } from './auth/password-gate';
import type { BodyBudget } from './http/body-budget';
import type { CommitStatement } from './idempotency/keys';
import type { DkimKey } from './domains/dkim';
import type { Store } from './store/store';
import type { CallFailureLog } from './webhooks/failure-log';
import type { RowIds } from './mail/row-ids';
import type { QuotaRefunds } from './mail/quota-refunds';

export type AuthKind = 'none' | 'user' | 'admin' | 'sender';

/** Everything long-lived a command may use; built once per process. */
export interface Services {
  config: Config;
  db: Db;
  /** The fast path's batch pool, batchers and caches (src/store/store.ts): this Services' own, closed with it. */
  store: Store;
  logger: Logger;
  redis: Redis | null;
  dns: DnsVerifier;
  /** BullMQ on Redis when REDIS_URL is set, else in-process. */
  queues: QueueFactory;
  /** Shared counters (Redis when configured). */
  limits: RateLimits;
  /** This process's Prometheus registry and the metrics on it (src/ops/metrics.ts). */
  metrics: Metrics;
  /** Makes a new domain's DKIM key pair (src/domains/dkim.ts); the test suite hands out pre-generated fixture keys. */
  newDkimKey: () => Promise<DkimKey>;
  /** The process's password checks, a few at once (src/auth/password-gate.ts). */
  passwords: PasswordGate;
  /** Request body bytes the process's HTTP doors hold at once (src/http/body-budget.ts). */
  bodies: BodyBudget;
  /** `webhook test ping failed` lines, at most one a minute per webhook (a user can ask for pings in a loop). */
  pingFailures: CallFailureLog;
  /** Message row ids in ascending order, for every accept path (src/mail/row-ids.ts says why). */
  rowIds: RowIds;
  /** Quota refunds the store refused, tried again, recorded, and settled on a graceful stop (src/mail/quota-refunds.ts). */
  refunds: QuotaRefunds;
}

export interface CommandContext extends Services {
  requestId: string;
  ip: string;
  /** Set for auth 'user'. */
  user?: UserRow;
  /** Effective permissions of the caller: '*' or a set of names. */
  permissions?: '*' | Set<string>;
  /** The session token hash when the caller came with a SessionID. */
  sessionHash?: string;
  /** Set for auth 'admin'. 0 means the install-wide AdminAPIKey. */
  adminId?: number;
  /** Set for auth 'sender': the sender API key's id and its domain. */
  senderKeyId?: number;
  domain?: DomainRow;
  /** Set for auth 'sender' when the caller came with an account key (`sk_live_…`); ctx.domain is then unset. */
  accountKey?: AccountKeyScope;
  /**
   * The addresses the caller's credential may be used from: a user key's BoundIPAddress (also for a session opened
   * with it) or an account key's AllowedIPs. Unset for a password session or an unrestricted key (key-reach.ts).
   */
  credentialIps?: string[];
  /** Request headers a command may read (v1 door): lowercase names. */
  headers?: Record<string, string | undefined>;
  /** The way in this request came through (`api.php`, `v1`, `batch`, `cli`, a dialect's name): a metrics label. */
  door?: string;
  /**
   * Set when the request holds an Idempotency-Key lease: the statement that stores this success result as the
   * request's reply. A command that commits effects (sendemail, sendbatch) runs it in the same transaction; one
   * that commits more than once marks all but its last commit `partial` (the key stays in progress meanwhile).
   */
  idempotentReply?: (result: Record<string, unknown>, how?: { partial?: boolean }) => CommitStatement;
}

export type Params = Record<string, unknown>;

export interface CommandDef {
  /** Exactly the command name, lowercase. */
  name: string;
  auth: AuthKind;
  permission?: string;
  /**
   * A user command the admin may run too (AdminAPIKey, an admin SessionID or the admin key as Bearer): ctx.adminId
   * is then set and ctx.user is not, and the command answers for every user (queue control).
   */
  adminToo?: true;
  /** The command's own numbered codes and their texts (from the contract). */
  errors: Record<number, string>;
  /** Business errors as arrays (user.login, user.create style) instead of scalars. */
  arrayErrors?: boolean;
  /** Parameter failures answer one scalar code instead of an array (sender.domains, as the contract shows). */
  scalarErrors?: true;
  /** Fields a parameter failure carries besides its code, as the command's own failures do (smtprelay's SMTPResponse). */
  failureFields?: (code: number) => Record<string, unknown>;
  /** What a failed authentication answers instead of 99998 (user.current: `[1]` "Authentication required", upstream §1.6). */
  authError?: { code: number[]; text: string };
  /** Some Octeth success replies carry no ErrorCode (user.apikey.*). getdomains keeps it: the contract shows it. */
  omitSuccessErrorCode?: boolean;
  /**
   * Whether this call holds a lot of memory for seconds (a batch of many messages): such calls run a few at a time
   * per process (src/admission.ts, BATCH_ACCEPT_*), after authentication and validation.
   */
  heavy?: (params: Params) => boolean;
  /** Rate-limited per credential: `points` (default API_RATE_LIMIT_PER_MINUTE) requests per window, then 429 with Retry-After. */
  rateLimit?: { durationSec: number; points?: number };
  /**
   * Open to account keys (`sk_live_…`) with this permission: beside sender keys (auth 'sender'), or beside sessions
   * and user API keys (auth 'user', as `Authorization: Bearer`). Such a command finds its domain itself:
   * src/mail/sender-for.ts (sending) or domainScope (lookups).
   */
  accountKey?: AccountPermission;
  /** HTTP status of a failure code on the v1 door (default 400; auth codes 401/403; 429). */
  httpStatus?: Record<number, number>;
  /**
   * Changes no key, account or domain (a lookup, or mail handed over): running it leaves the short-lived
   * credential caches alone. Every other user or admin command empties them in its process.
   */
  keepsCredentialCaches?: true;
  /**
   * A sender command that answers a disabled account itself (the sends: code 12 for each message); every other
   * sender command refuses one at authentication (code 2).
   */
  answersDisabledAccount?: true;
  /**
   * Hands mail over and reads none: the dispatcher does not first expand the caller's pending batches
   * (src/mail/expand-batches.ts), which every other command of a user or the admin gets, so its reads see every message.
   */
  sends?: true;
  /**
   * Expands the caller's pending batches itself, only where its read needs them (a lookup by id that misses:
   * src/mail/find-message.ts): the dispatcher does not expand them first.
   */
  settlesPending?: true;
  run(params: Params, ctx: CommandContext): Promise<Record<string, unknown>>;
}

export function defineCommand(def: CommandDef): CommandDef {
  return def;
}

/** What commands/index.ts loads for one command: its module. */
export type CommandModule = { default: CommandDef };

/**
 * THE command table (commands/index.ts): name → module, each module required at its first lookup (a dispatch, `postern
 * call --list`, the OpenAPI build) instead of when the table loads. The names are the static keys, so listing them
 * (unknown-command replies, CLI usage, the schema match) loads nothing. Loading all ~140 modules and what they import
 * cost every process, CLI run and jest test file about 0.2 s of compiling to call a few; a request pays it once, for
 * its command's first call. A module whose name is not its key is refused when it loads (and at the API role's start:
 * Validator.compileAll loads them all).
 */
export function lazyCommandTable(loaders: Record<string, () => CommandModule>): Record<string, CommandDef> {
  const table: Record<string, CommandDef> = Object.create(null);
  for (const [name, load] of Object.entries(loaders)) {
    let def: CommandDef | undefined;
    Object.defineProperty(table, name, {
      enumerable: true,
      get(): CommandDef {
        if (def) return def;
        const loaded = load().default;
        if (loaded?.name !== name) throw new Error(`commands/index.ts: ${name} maps to a module named ${loaded?.name}`);
        return (def = loaded);
      },
    });
  }
  return Object.freeze(table);
}
