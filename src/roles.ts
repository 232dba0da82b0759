import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ensureAdmin } from './auth/admin';
import { checkKeyOpensSecrets } from './auth/key-check';
import { purgeIdleSessions } from './auth/sessions';
import type { CampaignWorker } from './campaigns/launcher';
import type { Services } from './command';
import type { Config } from './config';
import { migrateLatest } from './db';
import type { DeliveryWorker } from './delivery/worker';
import { DELIVERY_QUEUE } from './delivery/enqueue';
import { modeNotices } from './domains/dev-mode';
import type { DnsWatch } from './domains/dns-watch';
import type { ReputationGuard } from './domains/reputation-guard';
import { ensureDatabase } from './ensure-database';
import { createHttpServer } from './http/server';
import { IDEMPOTENCY_TTL_MS, purgeExpiredKeys } from './idempotency/keys';
import type { InboundListener } from './inbound/listener';
import { purgeInbound } from './inbound/retention';
import { createLogger, Logger } from './logger';
import { applyRecordedRefunds } from './mail/quota-refunds';
import { purgeMessages } from './mail/retention';
import type { OpsListener } from './ops/health';
import { buildServices, closeServices } from './services';
import type { SmtpFront } from './smtp/front';
import type { WebhookWorker } from './webhooks/worker';

export interface Running {
  services: Services;
  server: http.Server | null;
  /** The ops listener of a worker or smtp process (null when the api serves the ops routes). */
  ops?: OpsListener | null;
  /** The SMTP relay front of the all and smtp roles. */
  smtp?: SmtpFront | null;
  /** The campaign launcher of the all and worker roles (its sweep resumes campaigns whose lease ended). */
  campaigns?: CampaignWorker | null;
  stop(): Promise<void>;
}

/** The first start's admin credentials, shown once on the terminal (not the log stream); only hashes are stored. */
function credentialsBanner(created: { username: string; password: string; adminApiKey: string | null }, config: Config): string {
  const lines = [
    '',
    // Every role migrates and may be the first to start, so the banner names the one that printed it.
    `  Postern (role ${config.role}) created its admin credentials. They are shown only this once: store them now.`,
    `    AdminAPIKey:     ${created.adminApiKey ?? (config.adminApiKey ? '(from ADMIN_API_KEY)' : '(unchanged)')}`,
    `    admin username:  ${created.username}`,
    `    admin password:  ${created.password}`,
    ...(config.role === 'all' || config.role === 'api' ? [`  Sign in to the web console at http://localhost:${config.port || '<port>'}/console/`] : []),
    '',
  ];
  return lines.join('\n') + '\n';
}

/**
 * Starts the roles the config asks for; resolves once listening. Each role's servers are imported as that role
 * starts (the api's express app, the worker's tasks, the SMTP listeners, the ops listener): `migrate` loads none of
 * them and a worker not the api's app, where every process used to load all of them (~400 files, ~0.3 s of CPU).
 */
export interface StartOptions {
  logger?: Logger;
  /** Where the first start's admin credentials banner goes (default: this process's stdout). In-process test gateways drop it. */
  credentials?: (banner: string) => void;
}

export async function start(config: Config, opts: StartOptions = {}): Promise<Running> {
  // A test passes its own (tests/helpers/log-lines.ts): the gateway's lines then reach its failure output.
  const logger = opts.logger ?? createLogger(config.logLevel);
  for (const notice of modeNotices(config)) {
    process.stderr.write(`\n  !! ${notice}\n\n`);
    logger.warn(notice);
  }
  if (config.databaseUrl && (await ensureDatabase(config.databaseUrl)) === 'created')
    logger.info('database created', { database: new URL(config.databaseUrl).pathname.slice(1) });
  const services = buildServices(config, logger);
  const applied = await migrateLatest(services.db);
  if (applied.length) logger.info('migrations applied', { migrations: applied });
  if (config.role === 'migrate') {
    await closeServices(services);
    return { services, server: null, stop: async () => undefined };
  }
  // Refunds a stopped or crashed process recorded (src/mail/quota-refunds.ts): given back before any send is counted.
  await applyRecordedRefunds(services.db, logger).catch((err) =>
    logger.warn('could not give back the recorded quota refunds', { error: (err as Error).message }),
  );
  try {
    const sample = await checkKeyOpensSecrets(services.db, services.config);
    if (sample.unreadable)
      logger.warn(
        `ENCRYPTION_KEY and ENCRYPTION_KEY_PREVIOUS open only ${sample.checked - sample.unreadable} of the ${sample.checked} stored DKIM keys checked: ` +
          "mail of the other domains cannot be signed. Add the key they were sealed with to ENCRYPTION_KEY_PREVIOUS; 'postern reencrypt' names each one",
        sample,
      );
  } catch (err) {
    await closeServices(services);
    throw err;
  }
  const runs = (role: 'api' | 'worker' | 'smtp') => config.role === 'all' || config.role === role;
  // Build everything that can refuse to start before generating credentials, so they are never printed and lost.
  const api = runs('api') ? (await import('./app')).createApp(services) : null;
  api?.validator.compileAll();
  // The api enqueues what it accepts: its queue (and BullMQ's some 250 files, src/lazy.ts) loads now, not in the first send.
  if (api) services.queues.queue(DELIVERY_QUEUE);
  // The accept group commits' connections open now, not in the first sends' replies.
  if (api)
    await (
      await import('./mail/accept-group')
    )
      .warmAcceptGroups(services)
      .catch((err) => logger.warn('could not open the batch connections at start; the first sends will', { error: (err as Error).message }));
  const created = await ensureAdmin(services.db, services.config);
  if (created) (opts.credentials ?? ((banner) => process.stdout.write(banner)))(credentialsBanner(created, config));

  let server: http.Server | null = null;
  if (api) {
    const { app } = api;
    server = createHttpServer(app, config, logger);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(config.port, config.host, resolve);
    });
    const addr = server.address() as AddressInfo;
    logger.info('api listening', {
      host: addr.address,
      port: addr.port,
      database: config.databaseUrl ? 'mysql' : 'sqlite',
      queue: config.redisUrl ? 'redis' : 'in-process',
    });
  }

  const timers: NodeJS.Timeout[] = [];
  let worker: DeliveryWorker | null = null;
  let webhooks: WebhookWorker | null = null;
  let campaigns: CampaignWorker | null = null;
  let dnsWatch: DnsWatch | null = null;
  let reputation: ReputationGuard | null = null;
  if (runs('worker')) {
    const [{ createDeliveryWorker }, { startWebhookWorker }, { createCampaignWorker }, { createDnsWatch }, { createReputationGuard }] = await Promise.all([
      import('./delivery/worker'),
      import('./webhooks/worker'),
      import('./campaigns/launcher'),
      import('./domains/dns-watch'),
      import('./domains/reputation-guard'),
    ]);
    worker = createDeliveryWorker(services);
    webhooks = startWebhookWorker(services);
    campaigns = createCampaignWorker(services);
    dnsWatch = createDnsWatch(services);
    reputation = createReputationGuard(services);
    const sweep = () => {
      purgeIdleSessions(services.db, services.config).catch((err) => logger.warn('session purge failed', { error: (err as Error).message }));
      purgeExpiredKeys(services.db, IDEMPOTENCY_TTL_MS).catch((err) => logger.warn('idempotency key purge failed', { error: (err as Error).message }));
      purgeInbound(services.db, services.config.inboundRetentionDays * 86_400_000).catch((err) =>
        logger.warn('inbound mail purge failed', { error: (err as Error).message }),
      );
      purgeMessages(services.db, services.config.messageRetentionDays).catch((err) =>
        logger.warn('message retention purge failed', { error: (err as Error).message }),
      );
      // Another process's recorded refunds, when that process ran out of tries while this one keeps running.
      applyRecordedRefunds(services.db, logger).catch((err) => logger.warn('recorded quota refunds failed', { error: (err as Error).message }));
    };
    timers.push(setInterval(sweep, 10 * 60_000).unref());
    logger.info('worker running', {
      tasks: ['delivery', 'sweeper', 'session purge', 'webhooks', 'campaigns', 'dns watch', 'reputation guard'],
      mode: config.deliveryMode,
      concurrency: config.deliveryConcurrency,
    });
  }
  let smtp: SmtpFront | null = null;
  let inbound: InboundListener | null = null;
  if (runs('smtp')) {
    const [{ startSmtpFront }, { startInboundSmtp }] = await Promise.all([import('./smtp/front'), import('./inbound/listener')]);
    smtp = await startSmtpFront(services);
    inbound = await startInboundSmtp(services);
  }

  // Worker and smtp answer health checks and scrapes on OPS_PORT; the api role serves them on its own port.
  const ops = api ? null : await (await import('./ops/health')).startOpsListener(services, config.role);

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      // One budget for the whole stop: what the servers' in-flight requests leave of it goes to the quota refunds.
      const budgetEnd = Date.now() + config.shutdownTimeoutMs;
      timers.forEach(clearInterval);
      await ops?.close();
      if (server) {
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeIdleConnections();
        const force = setTimeout(() => server!.closeAllConnections(), config.shutdownTimeoutMs);
        await closed;
        clearTimeout(force);
      }
      await smtp?.close();
      await inbound?.close();
      // First, while the queues are open: a running campaign ends after its page and its job is handed on.
      await campaigns?.stop();
      await services.queues.close(); // lets running deliveries finish
      await worker?.stop();
      await webhooks?.stop();
      await dnsWatch?.stop();
      await reputation?.stop();
      // At least a second for the refunds: a stop whose requests used the whole budget still tries each once.
      await closeServices(services, Math.max(1000, budgetEnd - Date.now()));
      logger.info('stopped');
    })());
  return { services, server, ops, smtp, campaigns, stop };
}
