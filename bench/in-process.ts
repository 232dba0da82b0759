import crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import knexFactory from 'knex';
import { createApp } from '../src/app';
import { ensureAdmin } from '../src/auth/admin';
import type { Services } from '../src/command';
import { loadConfig } from '../src/config';
import { migrateLatest } from '../src/db';
import { createLogger } from '../src/logger';
import { buildServices, closeServices } from '../src/services';
import { BenchSender, setupSender } from './sender-setup';

export const BENCH_MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

export interface InProcessGateway {
  services: Services;
  base: string;
  adminKey: string;
  /** POST /api.php; ok when HTTP 200 and not Success false. */
  api(params: Record<string, unknown>): Promise<{ ok: boolean; body: any }>;
  /** The bench user with these enabled domains and a sender key (bench/sender-setup.ts); `reuse` on a kept database. */
  sender(domains: string[], reuse?: boolean): Promise<BenchSender>;
  /** Stops the server and drops the database (unless BENCH_KEEP_DB). */
  close(): Promise<void>;
}

/**
 * The gateway's app in this process on a loopback port, over a throw-away MariaDB database `<prefix>_<random>`
 * (migrated, rate limit off), for the benchmarks that time commands through HTTP. `existing` reuses a database a
 * run kept (BENCH_KEEP_DB) and leaves it in place.
 */
export async function startInProcessGateway(prefix: string, existing?: string): Promise<InProcessGateway> {
  const dbName = existing ?? `${prefix}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: BENCH_MYSQL });
  if (!existing) await admin.raw(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const adminKey = crypto.randomBytes(16).toString('hex'); // configured, not stored: any key works on a kept database
  const config = loadConfig({
    DATABASE_URL: `${BENCH_MYSQL}/${dbName}`,
    ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
    ADMIN_API_KEY: adminKey,
    MAIL_HOSTNAME: 'mx.bench.test',
    LOG_LEVEL: 'error',
    API_RATE_LIMIT_PER_MINUTE: '0',
    DNS_SERVERS: '127.0.0.1:1',
  });
  const services = buildServices(config, createLogger('error', true));
  let server: Server | null = null;
  const close = async () => {
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    await closeServices(services);
    if (!process.env.BENCH_KEEP_DB && !existing) await admin.raw(`DROP DATABASE IF EXISTS \`${dbName}\``);
    await admin.destroy();
  };
  try {
    await migrateLatest(services.db);
    await ensureAdmin(services.db, services.config);
    const { app } = createApp(services);
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
  } catch (err) {
    await close();
    throw err;
  }
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const api = async (params: Record<string, unknown>) => {
    const res = await fetch(`${base}/api.php`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    const body = (await res.json()) as any;
    return { ok: res.status === 200 && body.Success !== false, body };
  };
  return {
    services,
    base,
    adminKey,
    api,
    sender: (domains, reuse) => setupSender(async (params) => (await api(params)).body, { adminKey, db: services.db, domains, reuse }),
    close,
  };
}
