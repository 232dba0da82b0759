/**
 * A production-mode Postern of the chaos suite's own: a private MariaDB and Redis (temp dirs, free ports), the
 * built roles as separate processes (api, two workers, smtp) relaying to a counting sink, and a sender with an
 * API key and SMTP credentials. Every role can be killed with -9 and started again.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { freePort } from '../tests/helpers/ports';
import { PrivateServer, startMariaDb, startRedis } from '../tests/helpers/private-servers';
import { RoleProcess, spawnRole, waitHttp, waitPort } from '../tests/helpers/roles';
import { Sink, startSink } from '../tests/helpers/sink';

export type RoleName = 'api' | 'worker1' | 'worker2' | 'smtp';

export interface ClusterOptions {
  /** LEASE_SECONDS of the workers: how soon a killed worker's deliveries are retried. */
  leaseSeconds: number;
  sweepIntervalSeconds: number;
  sweepGraceSeconds: number;
  idempotencyLeaseSeconds: number;
  deliveryConcurrency: number;
}

export interface Sender {
  domain: string;
  apiKey: string;
  smtpUser: string;
  smtpPass: string;
}

export interface Cluster {
  dir: string;
  mariadb: PrivateServer;
  redis: PrivateServer;
  sink: Sink;
  apiPort: number;
  smtpPort: number;
  sender: Sender;
  /** A connection to the gateway's database, for checks outside the faults. */
  db: Knex;
  kill(role: RoleName): Promise<void>;
  /** Starts a killed role again; resolves once it listens (api, smtp) or has started (workers). */
  start(role: RoleName): Promise<void>;
  close(): Promise<void>;
}

async function call(port: number, params: Record<string, unknown>): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/api.php`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  const body = (await res.json()) as { Success?: boolean } & Record<string, any>;
  if (!body.Success) throw new Error(`${String(params.Command)} failed: ${JSON.stringify(body)}`);
  return body;
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-chaos-'));
  const [mariadb, redis, sink] = await Promise.all([startMariaDb(), startRedis(), startSink()]);
  const admin = knexFactory({ client: 'mysql2', connection: mariadb.url });
  await admin.raw('CREATE DATABASE `postern` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
  await admin.destroy();
  const [apiPort, smtpPort, inboundPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const adminKey = `chaos-admin-${crypto.randomBytes(12).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: `${mariadb.url}/postern`,
    REDIS_URL: redis.url,
    ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
    ADMIN_API_KEY: adminKey,
    MAIL_HOSTNAME: 'mx.chaos.test',
    DATA_DIR: dir,
    HOST: '127.0.0.1',
    PORT: String(apiPort),
    OPS_PORT: '0', // worker and smtp health listeners: a free port each
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    INBOUND_SMTP_PORT: String(inboundPort),
    SMTP_TLS_PORT: '0',
    DELIVERY_MODE: 'relay',
    SMTP_RELAY_URL: `smtp://127.0.0.1:${sink.port}`,
    DELIVERY_CONCURRENCY: String(o.deliveryConcurrency),
    RETRY_SCHEDULE_SECONDS: '2',
    LEASE_SECONDS: String(o.leaseSeconds),
    SWEEP_INTERVAL_SECONDS: String(o.sweepIntervalSeconds),
    SWEEP_GRACE_SECONDS: String(o.sweepGraceSeconds),
    IDEMPOTENCY_LEASE_SECONDS: String(o.idempotencyLeaseSeconds),
    API_RATE_LIMIT_PER_MINUTE: '0',
    SMTP_MAX_CONNECTIONS_PER_IP: '1000',
    LOG_LEVEL: 'warn',
  };
  const roles = new Map<RoleName, RoleProcess>();
  const start = async (role: RoleName) => {
    const kind = role === 'worker1' || role === 'worker2' ? 'worker' : role;
    const log = path.join(dir, `${role}.log`);
    const proc = spawnRole(kind, env, log);
    roles.set(role, proc);
    const listening = role === 'api' ? waitHttp(apiPort) : role === 'smtp' ? waitPort(smtpPort) : null;
    if (!listening) return;
    // A role that dies while starting says why (its log's tail) instead of a bare timeout.
    let done = false;
    const died = proc.exited.then((code) => {
      if (done) return;
      const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '';
      throw new Error(`${role} exited (${code}) before it listened:\n${tail}`);
    });
    try {
      await Promise.race([listening, died]);
    } finally {
      done = true;
      died.catch(() => undefined);
    }
  };
  const db = knexFactory({ client: 'mysql2', connection: `${mariadb.url}/postern`, pool: { min: 0, max: 2 } });
  const close = async () => {
    await Promise.all([...roles.values()].map((r) => r.kill('SIGKILL')));
    await db.destroy();
    await sink.close();
    await Promise.all([mariadb.destroy(), redis.destroy()]);
    if (!process.env.CHAOS_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const sender = await setUp();
    return {
      dir,
      mariadb,
      redis,
      sink,
      apiPort,
      smtpPort,
      db,
      sender,
      kill: async (role) => roles.get(role)?.kill('SIGKILL'),
      start,
      close,
    };
  } catch (err) {
    // A cluster that did not come up leaves nothing running behind it (roles, servers, a pending start).
    await close().catch(() => undefined);
    throw err;
  }

  async function setUp(): Promise<Sender> {
    // Every role migrates at start: the api first, alone (knex's migration lock refuses a second one meanwhile).
    await start('api');
    const others = Promise.all((['worker1', 'worker2', 'smtp'] as RoleName[]).map(start));
    others.catch(() => undefined); // awaited below; a failure before then must not go unhandled
    await call(apiPort, {
      Command: 'user.create',
      AdminAPIKey: adminKey,
      RelUserGroupID: 1,
      EmailAddress: 'chaos@example.com',
      Username: 'chaos',
      Password: 'chaos-password',
      FirstName: 'Chaos',
      TimeZone: 'UTC',
      Language: 'en',
    });
    const login = await call(apiPort, { Command: 'user.login', Username: 'chaos', Password: 'chaos-password' });
    const domain = 'chaos.example.com';
    const added = await call(apiPort, { Command: 'emailgateway.adddomain', SessionID: login.SessionID, DomainName: domain });
    await db('sender_domains').where({ id: added.NewSenderDomainID }).update({ status: 'Enabled' });
    const key = await call(apiPort, { Command: 'emailgateway.addapi', SessionID: login.SessionID, DomainID: added.NewSenderDomainID, Description: 'chaos' });
    const smtp = await call(apiPort, { Command: 'emailgateway.addsmtp', SessionID: login.SessionID, DomainID: added.NewSenderDomainID });
    await others;
    return { domain, apiKey: key.APIKey.APIKey, smtpUser: smtp.SMTP.SMTPUsername, smtpPass: smtp.SMTP.SMTPPassword };
  }
}
