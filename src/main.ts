#!/usr/bin/env node
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app';
import { ensureAdmin } from './auth/admin';
import { purgeIdleSessions } from './auth/sessions';
import type { Services } from './command';
import { Config, ConfigError, loadConfig, ROLES } from './config';
import { Cli, runCli } from './cli/program';
import { migrateLatest } from './db';
import { checkKeyOpensSecrets } from './auth/key-check';
import { devEnvironment, modeNotices } from './domains/dev-mode';
import { DatabaseSetupError, ensureDatabase } from './ensure-database';
import { createLogger } from './logger';
import { buildServices, closeServices } from './services';
import { createDeliveryWorker, DeliveryWorker } from './delivery/worker';
import { DELIVERY_QUEUE } from './delivery/enqueue';
import { SmtpFront, startSmtpFront } from './smtp/front';
import { InboundListener, startInboundSmtp } from './inbound/listener';
import { startWebhookWorker, WebhookWorker } from './webhooks/worker';
import { CampaignWorker, createCampaignWorker } from './campaigns/launcher';
import { OpsListener, startOpsListener } from './ops/health';
import { createDnsWatch, DnsWatch } from './domains/dns-watch';
import { createReputationGuard, ReputationGuard } from './domains/reputation-guard';
import { IDEMPOTENCY_TTL_MS, purgeExpiredKeys } from './idempotency/keys';
import { purgeInbound } from './inbound/retention';
import { purgeMessages } from './mail/retention';
import { limitHeapGrowth } from './heap-growth';
import { warmAcceptGroups } from './mail/accept-group';
import { createHttpServer } from './http/server';

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

function printCredentials(created: { username: string; password: string; adminApiKey: string | null }, config: Config): void {
  // Printed once to the terminal (not the log stream); only hashes are stored.
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
  process.stdout.write(lines.join('\n') + '\n');
}

/** Starts the roles the config asks for; resolves once listening. */
export async function start(config: Config): Promise<Running> {
  const logger = createLogger(config.logLevel);
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
  // Build everything that can refuse to start before generating credentials, so they are never printed and lost.
  const api = config.role === 'all' || config.role === 'api' ? createApp(services) : null;
  api?.validator.compileAll();
  // The api enqueues what it accepts: its queue (and BullMQ's some 250 files, src/lazy.ts) loads now, not in the first send.
  if (api) services.queues.queue(DELIVERY_QUEUE);
  // The accept group commits' connections open now, not in the first sends' replies.
  if (api)
    await warmAcceptGroups(services).catch((err) =>
      logger.warn('could not open the batch connections at start; the first sends will', { error: (err as Error).message }),
    );
  const created = await ensureAdmin(services.db, services.config);
  if (created) printCredentials(created, config);

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
  if (config.role === 'all' || config.role === 'worker') {
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
  if (config.role === 'all' || config.role === 'smtp') {
    smtp = await startSmtpFront(services);
    inbound = await startInboundSmtp(services);
  }

  // Worker and smtp answer health checks and scrapes on OPS_PORT; the api role serves them on its own port.
  const ops = api ? null : await startOpsListener(services, config.role);

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
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
      await closeServices(services);
      logger.info('stopped');
    })());
  return { services, server, ops, smtp, campaigns, stop };
}

/** Runs a role until a signal stops it (`migrate` exits when done). */
async function startRole(roleArg: string | undefined): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env, roleArg);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`postern: invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  limitHeapGrowth(config.heapGrowingPercent);
  // Signals are caught from the first moment: one that arrives while the roles are still starting (the api
  // may already answer) stops the process cleanly once start-up has finished, instead of killing it.
  let started: Promise<Running> | null = null;
  let stopping = false;
  if (config.role !== 'migrate') {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        if (stopping) return;
        stopping = true;
        void (started ?? Promise.reject(new Error('not started')))
          .then(async (r) => {
            r.services.logger.info('shutting down', { signal });
            await r.stop();
          })
          .then(
            () => process.exit(0),
            () => process.exit(1),
          );
      });
    }
  }
  try {
    started = start(config);
    await started;
  } catch (err) {
    const what = err instanceof ConfigError ? 'invalid configuration: ' : err instanceof DatabaseSetupError ? 'database not ready: ' : 'failed to start: ';
    process.stderr.write(`postern: ${what}${(err as Error).message}\n`);
    process.exit(1);
  }
}

/** `postern [role]` starts a role; any other first word is a CLI command (src/cli/). */
async function main(): Promise<void> {
  const first = process.argv[2];
  const start = (role?: string): Promise<void> => {
    if (role !== 'dev') return startRole(role);
    process.env = devEnvironment(process.env);
    return startRole('all');
  };
  // `postern dev --help` (or a role's) prints the command's help through the CLI instead of starting the gateway.
  const help = process.argv.slice(3).some((a) => a === '--help' || a === '-h');
  if (!help && (first === undefined || first === 'dev' || (ROLES as readonly string[]).includes(first.toLowerCase()))) return start(first);
  const cli = new Cli({ env: process.env, stdout: process.stdout, stderr: process.stderr });
  const code = await runCli(process.argv, cli, start);
  // Exit once the answer is written: a client library's idle timer must not keep the CLI waiting.
  process.stdout.write('', () => process.exit(code));
}

if (require.main === module) void main();
