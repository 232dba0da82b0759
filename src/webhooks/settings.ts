/** Webhook settings, part of the config (src/config.ts reads and checks each WEBHOOK_* variable). */
export interface WebhookSettings {
  /** WEBHOOK_ALLOW_PRIVATE: 1 lets webhooks reach loopback/private/link-local addresses (tests, internal receivers). Metadata addresses stay refused. Default 0. */
  allowPrivate: boolean;
  /** WEBHOOK_TIMEOUT_MS: one attempt's limit, connect to last response byte. Default 10000. */
  timeoutMs: number;
  /** WEBHOOK_POLL_MS: how often a worker looks for due outbox rows. Default 1000. */
  pollMs: number;
  /** WEBHOOK_MAX_FAILURES: failed attempts in a row (any event) after which a webhook is disabled. Default 100. */
  maxFailures: number;
  /** WEBHOOK_RETRY_BASE_MS: the first retry's wait; each next one doubles (capped at 2 h), ±25 % jitter. Default 10000. */
  retryBaseMs: number;
  /** WEBHOOK_MAX_AGE_SECONDS: an event not delivered this long after it happened is given up. Default 86400 (24 h). */
  maxAgeMs: number;
  /** WEBHOOK_CONCURRENCY: requests one worker has in flight. Default 10. */
  concurrency: number;
  /**
   * WEBHOOK_KEY_GRACE_SECONDS: after regeneratesigningkey, calls are signed with the old key too for this long, so
   * a receiver can switch keys without refusing a call. 0: the old key stops at once. Default 86400 (24 h).
   */
  keyGraceMs: number;
  /**
   * How long a call's lease outlives its timeout: the time to record its outcome before another pass may send it
   * again (WEBHOOK_LEASE_GRACE_SECONDS, default 60; WEBHOOK_LEASE_GRACE_MS in milliseconds, test suite only).
   */
  leaseGraceMs: number;
}

/** Attempts kept in each webhook's log (getwebhooklog). */
export const ATTEMPT_LOG_KEEP = 100;
/** Finished outbox rows are pruned this long after their last attempt. */
export const OUTBOX_RETENTION_MS = 7 * 86_400_000;
/** Longest wait between two retries. */
export const RETRY_CAP_MS = 2 * 3_600_000;

/**
 * Webhooks one account may have, over all its domains and formats. Every event fans out to each matching webhook: a
 * thousand of them made every delivery a thousand calls, to a slow receiver or to someone else's host.
 */
export const MAX_WEBHOOKS_PER_ACCOUNT = 50;
