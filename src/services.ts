import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Services } from './command';
import type { Config } from './config';
import { closeDb, openDb } from './db';
import { domainVerifier } from './domains/dev-mode';
import { generateDkimKey } from './domains/dkim';
import type { Logger } from './logger';
import { PasswordGate } from './auth/password-gate';
import { BodyBudget } from './http/body-budget';
import { bullMqQueues } from './queue/bullmq';
import { inProcessQueues } from './queue/in-process';
import { lazy } from './lazy';
import { RateLimits } from './ratelimit/limits';
import { Metrics } from './ops/metrics';
import { Store } from './store/store';
import { callFailureLog, FAILURE_LOG_INTERVAL_MS } from './webhooks/failure-log';
import { createRowIds } from './mail/row-ids';
import { QuotaRefunds } from './mail/quota-refunds';

// Only with REDIS_URL (src/lazy.ts): the embedded default never loads ioredis.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by the import type above
const ioredis = lazy(() => require('ioredis') as typeof import('ioredis'));

/**
 * The embedded default keeps its encryption key beside the database (DATA_DIR/encryption.key, mode 0600),
 * created at first start; production passes ENCRYPTION_KEY (config refuses DATABASE_URL without it).
 */
export function embeddedEncryptionKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'encryption.key');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, crypto.randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'hex');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte hex key`);
  return key;
}

export function buildServices(config: Config, logger: Logger): Services {
  const withKey: Config = config.encryptionKey ? config : { ...config, encryptionKey: embeddedEncryptionKey(config.dataDir) };
  // Request-path Redis (rate limits, login throttles): fails at once while unreachable, so the limits fall back
  // to in-process counters (src/ratelimit/limits.ts) instead of holding the request.
  const redis = config.redisUrl
    ? new (ioredis().Redis)(config.redisUrl, {
        keyPrefix: `${config.redisPrefix}:`,
        maxRetriesPerRequest: 1,
        lazyConnect: false,
        enableOfflineQueue: false,
        commandTimeout: config.redisCommandTimeoutMs,
      })
    : null;
  redis?.on('error', (err: Error) => logger.warn('redis error', { error: err.message }));
  const queues = config.redisUrl ? bullMqQueues(config.redisUrl, config.redisPrefix, config.redisCommandTimeoutMs) : inProcessQueues();
  const db = openDb(withKey, logger);
  const metrics = new Metrics(db, { topDomains: config.metricsTopDomains });
  return {
    config: withKey,
    db,
    store: new Store(db, {
      credentialTtlMs: config.senderAuthCacheMs,
      groupOverlapMs: config.groupCommitOverlapMs,
      campaignProgress: { page: config.campaignProgressPage, liveMs: config.campaignProgressLiveMs },
      contactCounts: { page: config.contactCountPage, liveMs: config.contactCountLiveMs },
    }),
    logger,
    redis,
    dns: domainVerifier(config, logger),
    queues,
    limits: new RateLimits(redis),
    metrics,
    newDkimKey: () => generateDkimKey(),
    passwords: new PasswordGate(config.passwordCheckConcurrency, config.passwordCheckQueue),
    bodies: new BodyBudget(config.maxBodyBytesInFlight),
    pingFailures: callFailureLog(logger, FAILURE_LOG_INTERVAL_MS, 'webhook test ping failed'),
    rowIds: createRowIds(),
    refunds: new QuotaRefunds(db, logger),
  };
}

/**
 * Closes what the services opened. First the quota refunds the store refused so far get one more try (or a record)
 * within `refundBudgetMs` (the roles pass what is left of SHUTDOWN_TIMEOUT_MS), while the database is still open.
 */
export async function closeServices(s: Services, refundBudgetMs = s.config.shutdownTimeoutMs): Promise<void> {
  await s.refunds.settle(refundBudgetMs);
  // Queues first: their workers may still be writing to the database.
  await s.queues.close().catch(() => undefined);
  await s.store.close().catch(() => undefined);
  await Promise.allSettled([closeDb(s.db), s.redis ? s.redis.quit() : Promise.resolve()]);
}
