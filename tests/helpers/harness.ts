import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import { ensureAdmin } from '../../src/auth/admin';
import type { Services } from '../../src/command';
import { loadConfig } from '../../src/config';
import { migrateLatest } from '../../src/db';
import type { Logger } from '../../src/logger';
import { buildServices, closeServices } from '../../src/services';
import { releaseDatabase, takeDatabase } from './db-pool';
import { seedMigratedSqlite } from './db-template';
import { fixtureDkimKeys } from './dkim-fixtures';
import { errorsOnFailure } from './log-lines';

export type Backend = 'mysql' | 'sqlite';

/** Which store this jest project runs on: the real MariaDB + Redis, or the embedded default. */
export function backend(): Backend {
  return process.env.POSTERN_TEST_DB === 'sqlite' ? 'sqlite' : 'mysql';
}

export const MYSQL_ROOT = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Harness {
  app: Express;
  services: Services;
  adminKey: string;
  backend: Backend;
  /** The environment the install was configured from (to start built processes on the same database). */
  env: Record<string, string>;
  /** POST /api.php with a JSON body; resolves to the parsed reply body. */
  call(params: Record<string, unknown>): Promise<any>;
  /** Any request to the same listener (v1 and dialect routes, tracking, ops); the reply as supertest's `res` was. */
  request(method: string, urlPath: string, opts?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * What `h.request` sends: headers as given; `query` appended as supertest's `.query(object)` wrote it; `body` an object
 * (sent as JSON) or a string or Buffer (sent as it is); `form` a form body, as `.type('form').send(object)` wrote it.
 */
export interface RequestOptions {
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  form?: Record<string, string | number | boolean>;
}

/**
 * A reply as supertest's `res` was: `body` parsed JSON for a JSON reply (an empty one as ''), a Buffer for an image, audio,
 * font, video or gzip reply (`text` then ''), `{}` for any other type.
 */
export interface Reply {
  status: number;
  /** Lower-cased names, as Node gives them (`set-cookie` an array); `any`, as supertest typed them. */
  headers: Record<string, any>;
  /** The Content-Type without its parameters, as supertest's `res.type`. */
  type: string;
  text: string;
  body: any;
}

/**
 * A fresh install for one test file: its own MariaDB database and Redis key prefix (or its own SQLite
 * directory), migrated, with a known AdminAPIKey. `env` overrides any configuration variable.
 */
export async function startHarness(env: Record<string, string> = {}, opts: { logger?: Logger; mysqlRoot?: string; redisUrl?: string } = {}): Promise<Harness> {
  const which = backend();
  const runId = `${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const adminKey = `test-admin-${crypto.randomBytes(12).toString('hex')}`;
  const baseEnv: Record<string, string> = {
    ADMIN_API_KEY: adminKey,
    MAIL_HOSTNAME: 'mx.postern.test',
    LOG_LEVEL: 'error',
    DNS_SERVERS: '127.0.0.1:1',
    DNS_TIMEOUT_MS: '300',
  };
  // Fixture users hash at scrypt 2^10 instead of 2^15 (~130 ms each); config honours it only under NODE_ENV=test.
  // A test that asks for another NODE_ENV gets the production cost.
  if ((env.NODE_ENV ?? 'test') === 'test') Object.assign(baseEnv, { NODE_ENV: 'test', PASSWORD_HASH_COST: '10' });
  let dropDb: (() => Promise<void>) | null = null;
  let tmpDir: string | null = null;
  // Whether the database was made from this worker's migrated template (tests/helpers/db-template.ts).
  let premigrated = false;
  const mysqlRoot = opts.mysqlRoot ?? MYSQL_ROOT;
  if (which === 'mysql') {
    let dbName = `postern_test_${runId}`;
    if (opts.mysqlRoot) {
      // A private server (tests/helpers/private-servers.ts) is migrated the ordinary way below.
      const admin = knexFactory({ client: 'mysql2', connection: mysqlRoot });
      await admin.raw(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      await admin.destroy();
    } else {
      // The shared server can be slow to hand out a connection while the machine is busy (seen once: a harness start
      // refused after the 2 s defaults at load 7). Outage tests use a private server (above) and keep the defaults.
      baseEnv.DB_CONNECT_TIMEOUT_MS = '10000';
      baseEnv.DB_ACQUIRE_TIMEOUT_MS = '10000';
      // A migrated database of this jest worker's, emptied by the file before (tests/helpers/db-pool.ts).
      dbName = await takeDatabase(mysqlRoot);
      premigrated = true;
      dropDb = () => releaseDatabase(mysqlRoot, dbName);
    }
    baseEnv.DATABASE_URL = `${mysqlRoot}/${dbName}`;
    baseEnv.ENCRYPTION_KEY = crypto.randomBytes(32).toString('hex');
    baseEnv.REDIS_URL = opts.redisUrl ?? REDIS_URL;
    baseEnv.REDIS_PREFIX = `postern-test:${runId}`;
  } else {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-test-'));
    baseEnv.DATA_DIR = tmpDir;
    await seedMigratedSqlite(tmpDir);
    premigrated = true;
  }
  const fullEnv = { ...baseEnv, ...env };
  const config = loadConfig(fullEnv);
  const services = buildServices(config, opts.logger ?? errorsOnFailure());
  // Pre-generated test keys instead of an RSA-2048 key generation (~210 ms) per domain.
  services.newDkimKey = fixtureDkimKeys();
  // A test that points DATABASE_URL or DATA_DIR elsewhere gets that store migrated as before.
  if (!premigrated || env.DATABASE_URL !== undefined || env.DATA_DIR !== undefined) await migrateLatest(services.db);
  await ensureAdmin(services.db, services.config);
  const { app } = createApp(services);
  // One listener for the harness's calls, made at the first: supertest listened and closed a server for every request
  // (and loaded ~120 modules in every file); each call is still a new connection to it, as supertest's were.
  let server: Promise<http.Server> | null = null;
  const listening = () =>
    (server ??= new Promise((resolve, reject) => {
      const s = http.createServer(app);
      s.once('error', reject);
      s.listen(0, () => resolve(s)); // every address, as app.listen(0): the app sees ::ffff:127.0.0.1 as before
    }));
  return {
    app,
    services,
    adminKey,
    backend: which,
    env: fullEnv,
    async call(params) {
      return (await send(((await listening()).address() as AddressInfo).port, 'POST', '/api.php', { body: params })).body;
    },
    async request(method, urlPath, opts = {}) {
      const query = opts.query && encodePairs(opts.query);
      const target = query ? `${urlPath}${urlPath.includes('?') ? '&' : '?'}${query}` : urlPath;
      const sent = opts.form ? { headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...opts.headers }, body: encodePairs(opts.form) } : opts;
      return send(((await listening()).address() as AddressInfo).port, method, target, sent);
    },
    async close() {
      const s = await server?.catch(() => null);
      server = null;
      if (s) await new Promise((resolve) => s.close(resolve));
      await closeServices(services);
      // A private Redis or MariaDB (tests/helpers/private-servers.ts) goes away with its data: nothing to clean.
      if (config.redisUrl && !opts.redisUrl) {
        const { Redis } = await import('ioredis'); // not at the top: the embedded store never loads it (src/lazy.ts)
        const raw = new Redis(config.redisUrl);
        const keys = await raw.keys(`${config.redisPrefix}:*`);
        for (let i = 0; i < keys.length; i += 500) await raw.del(...keys.slice(i, i + 500));
        await raw.quit();
      }
      // A private MariaDB goes away with its data; a pooled database is emptied for the next file or dropped.
      if (dropDb) await dropDb();
      if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
    },
  };
}

/** `k=v&…` as the `qs` package behind supertest's `.query()` and form bodies writes flat pairs (RFC 3986: `!'()*` too). */
function encodePairs(pairs: Record<string, string | number | boolean>): string {
  const encode = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return Object.entries(pairs)
    .map(([k, v]) => `${encode(k)}=${encode(String(v))}`)
    .join('&');
}

/**
 * Sends one request to loopback `port` on a connection of its own, with supertest's defaults: an object body goes as
 * JSON, a string body without a Content-Type as a form (superagent's `send(string)`), no redirect followed.
 */
function send(port: number, method: string, urlPath: string, opts: RequestOptions): Promise<Reply> {
  const headers: Record<string, string | number> = { ...opts.headers };
  const typed = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  let payload: string | Buffer | undefined;
  if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) {
    payload = opts.body;
    if (!typed && typeof opts.body === 'string') headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (opts.body !== undefined) {
    payload = JSON.stringify(opts.body);
    if (!typed) headers['Content-Type'] = 'application/json';
  }
  if (payload) headers['Content-Length'] = Buffer.byteLength(payload);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        try {
          const type = res.headers['content-type'] ?? '';
          const reply = { status: res.statusCode!, headers: res.headers, type: type.split(/ *; */)[0] };
          const raw = Buffer.concat(chunks);
          // superagent's split: audio, font, image, video and gzip replies are a Buffer body (no text).
          if (/^\s*(audio|font|image|video)\/|\/\s*(gz|gzip)\s*(;|$)/i.test(type)) return resolve({ ...reply, text: '', body: raw });
          const text = raw.toString('utf8');
          const json = /[/+]json($|[^-\w])/i.test(type);
          resolve({ ...reply, text, body: json ? text && JSON.parse(text.replace(/^\uFEFF/, '')) : {} });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The environment a role started as a child process (tests/helpers/roles.ts) needs to join this harness's install. */
export function childEnv(h: Harness): Record<string, string> {
  const c = h.services.config;
  return {
    DATABASE_URL: c.databaseUrl!,
    REDIS_URL: c.redisUrl!,
    REDIS_PREFIX: c.redisPrefix,
    ENCRYPTION_KEY: c.encryptionKey!.toString('hex'),
    ADMIN_API_KEY: h.adminKey,
    MAIL_HOSTNAME: c.mailHostname,
    // Loopback only, and a free port for the worker and smtp roles' health listener (9464 may be taken).
    HOST: '127.0.0.1',
    OPS_PORT: '0',
  };
}

let userSeq = 0;

/** Creates a user through user.create and logs in; returns the ids the tests need. */
export async function createUser(
  h: Harness,
  overrides: Record<string, unknown> = {},
): Promise<{ userId: number; sessionId: string; username: string; password: string }> {
  userSeq += 1;
  const username = `user${userSeq}_${crypto.randomBytes(3).toString('hex')}`;
  const password = 'correct horse battery';
  const created = await h.call({
    Command: 'user.create',
    AdminAPIKey: h.adminKey,
    RelUserGroupID: 1,
    EmailAddress: `${username}@example.com`,
    Username: username,
    Password: password,
    FirstName: 'Test',
    TimeZone: 'UTC',
    Language: 'en',
    ...overrides,
  });
  if (!created.Success) throw new Error(`user.create failed: ${JSON.stringify(created)}`);
  const login = await h.call({ Command: 'user.login', Username: username, Password: password });
  if (!login.Success) throw new Error(`user.login failed: ${JSON.stringify(login)}`);
  return { userId: created.UserID, sessionId: login.SessionID, username, password };
}

/** Adds a sender domain for the session's user; returns its id. */
export async function addDomain(h: Harness, sessionId: string, domainName: string, extra: Record<string, unknown> = {}): Promise<number> {
  const r = await h.call({ Command: 'emailgateway.adddomain', SessionID: sessionId, DomainName: domainName, ...extra });
  if (!r.Success) throw new Error(`adddomain failed: ${JSON.stringify(r)}`);
  return r.NewSenderDomainID;
}

/**
 * Marks every DNS record of the domain as having passed its last check (what verifydomain writes), so that, for one,
 * an admin's lift of a suspension makes it Enabled.
 */
export async function markRecordsVerified(h: Harness, id: number): Promise<void> {
  const row = await h.services.db('sender_domains').where({ id }).first('dns_records');
  const records = (JSON.parse(row.dns_records) as Record<string, unknown>[]).map((r) => ({ ...r, ok: true }));
  await h.services
    .db('sender_domains')
    .where({ id })
    .update({ dns_records: JSON.stringify(records) });
}

/** A domain name no other test file will pick. */
export function uniqueDomain(label = 'mail'): string {
  return `${label}.${crypto.randomBytes(5).toString('hex')}.example.com`;
}

/** A user with an Enabled domain (set directly: DNS verification has its own tests) and a sender API key. */
export async function senderSetup(
  h: Harness,
  userOverrides: Record<string, unknown> = {},
): Promise<{ userId: number; sessionId: string; domain: string; domainId: number; key: string; keyId: number }> {
  const u = await createUser(h, userOverrides);
  const domain = uniqueDomain('send');
  const domainId = await addDomain(h, u.sessionId, domain);
  await h.services.db('sender_domains').where({ id: domainId }).update({ status: 'Enabled' });
  const k = await h.call({ Command: 'emailgateway.addapi', SessionID: u.sessionId, DomainID: domainId, Description: 'tests' });
  return { userId: u.userId, sessionId: u.sessionId, domain, domainId, key: k.APIKey.APIKey, keyId: k.NewAPIKeyID };
}

/** A new account key (`sk_live_…`) of the session's user; `extra` is user.apikey.create's (Domains, CanSend, …). */
export async function accountKey(h: Harness, sessionId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await h.call({ Command: 'user.apikey.create', SessionID: sessionId, Note: 'tests', KeyType: 'account', ...extra });
  if (!r.Success) throw new Error(`user.apikey.create failed: ${JSON.stringify(r)}`);
  return r.APIKey.APIKey;
}
