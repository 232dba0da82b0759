/**
 * Webhook settings, read from the environment at each use (until they move into src/config.ts).
 * A bad value falls back to the default rather than stopping delivery.
 */
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
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return fallback;
  const n = Number(raw.trim());
  return n < min || n > max ? fallback : n;
}

export function webhookSettings(env: NodeJS.ProcessEnv = process.env): WebhookSettings {
  return {
    allowPrivate: ['1', 'true', 'yes', 'on'].includes(String(env.WEBHOOK_ALLOW_PRIVATE ?? '').trim().toLowerCase()),
    timeoutMs: num(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    pollMs: num(env, 'WEBHOOK_POLL_MS', 1000, 10, 60_000),
    maxFailures: num(env, 'WEBHOOK_MAX_FAILURES', 100, 1, 100_000),
    retryBaseMs: num(env, 'WEBHOOK_RETRY_BASE_MS', 10_000, 10, 3_600_000),
    maxAgeMs: num(env, 'WEBHOOK_MAX_AGE_SECONDS', 86_400, 1, 30 * 86_400) * 1000,
    concurrency: num(env, 'WEBHOOK_CONCURRENCY', 10, 1, 200),
  };
}

/** Attempts kept in each webhook's log (getwebhooklog). */
export const ATTEMPT_LOG_KEEP = 100;
/** Finished outbox rows are pruned this long after their last attempt. */
export const OUTBOX_RETENTION_MS = 7 * 86_400_000;
/** Longest wait between two retries. */
export const RETRY_CAP_MS = 2 * 3_600_000;
