/**
 * npm run bench:send — accepted single sends/s next to a bare express endpoint (autocannon, 50 connections),
 * accepted messages/s through the batch route, and end-to-end delivered messages/s to a local SMTP sink with
 * DKIM on. Runs the built gateway as separate processes against MariaDB + Redis on loopback.
 */
import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import knexFactory from 'knex';
import { SMTPServer } from 'smtp-server';

const ROOT = path.resolve(__dirname, '../..');
const MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const E2E_MESSAGES = Number(process.env.BENCH_E2E_MESSAGES ?? 20000);
const children: ChildProcess[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function run(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

async function healthy(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing healthy on port ${port}`);
}

async function api(port: number, params: Record<string, unknown>): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/api.php`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
  return res.json();
}

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
}

function message(domain: string, i: number) {
  return {
    Subject: `Benchmark message ${i}`,
    ContentType: 'html',
    HTMLContent: `<h1>Hello</h1><p>${'Benchmark body text. '.repeat(40)}</p>`,
    PlainContent: 'Hello. '.repeat(40),
    From: { name: 'Bench', email: `bench@${domain}` },
    To: [{ name: 'Recipient', email: `r${i}@sink.test` }],
    Tags: ['bench'],
  };
}

async function main(): Promise<void> {
  const id = crypto.randomBytes(4).toString('hex');
  const dbName = `postern_bench_${id}`;
  const admin = knexFactory({ client: 'mysql2', connection: MYSQL });
  await admin.raw(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4`);
  const db = knexFactory({ client: 'mysql2', connection: `${MYSQL}/${dbName}` });
  const prefix = `postern-bench:${id}`;
  const env = {
    DATABASE_URL: `${MYSQL}/${dbName}`,
    REDIS_URL: REDIS,
    REDIS_PREFIX: prefix,
    ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
    ADMIN_API_KEY: `bench-admin-${id}-xxxxxxxx`,
    MAIL_HOSTNAME: 'mx.bench.test',
    API_RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: process.env.BENCH_DEBUG ? 'error' : 'warn',
  };
  try {
    const apiPort = await freePort();
    run([...(process.env.BENCH_PROFILE_API ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cpuprof-api'] : []), path.join(ROOT, 'dist/src/main.js'), 'api'], { ...env, PORT: String(apiPort), HOST: '127.0.0.1' });
    await healthy(apiPort);
    const barePort = await freePort();
    run([path.join(ROOT, 'dist/bench/bare-express.js')], { PORT: String(barePort) });
    await healthy(barePort);

    await api(apiPort, { Command: 'user.create', AdminAPIKey: env.ADMIN_API_KEY, RelUserGroupID: 1, EmailAddress: 'bench@example.com', Username: 'bench', Password: 'benchmark-password', FirstName: 'Bench', TimeZone: 'UTC', Language: 'en' });
    const login = await api(apiPort, { Command: 'user.login', Username: 'bench', Password: 'benchmark-password' });
    const domain = 'bench.example.com';
    const added = await api(apiPort, { Command: 'emailgateway.adddomain', SessionID: login.SessionID, DomainName: domain });
    await db('sender_domains').where({ id: added.NewSenderDomainID }).update({ status: 'Enabled' });
    const key = (await api(apiPort, { Command: 'emailgateway.addapi', SessionID: login.SessionID, DomainID: added.NewSenderDomainID, Description: 'bench' })).APIKey.APIKey;

    const single = JSON.stringify(message(domain, 0));
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
    console.log(`# Postern send benchmark (${DURATION} s per run, node ${process.version})`);

    const bare = await cannon({ url: `http://127.0.0.1:${barePort}/api/v1/email`, method: 'POST', headers, body: single, connections: 50, duration: DURATION });
    const mine = await cannon({ url: `http://127.0.0.1:${apiPort}/api/v1/email`, method: 'POST', headers, body: single, connections: 50, duration: DURATION });
    const bareRps = bare['2xx'] / DURATION;
    const mineRps = mine['2xx'] / DURATION;
    console.log(`bare express JSON endpoint:      ${bareRps.toFixed(0)} req/s (p99 ${bare.latency.p99} ms)`);
    console.log(`POST /api/v1/email accepted:      ${mineRps.toFixed(0)} req/s (p99 ${mine.latency.p99} ms, non-2xx ${mine.non2xx}, errors ${mine.errors})`);
    console.log(`ratio single / bare:              ${(mineRps / bareRps).toFixed(2)} (target >= 0.5)`);

    const batchBody = JSON.stringify({ Messages: Array.from({ length: 1000 }, (_, i) => message(domain, i)) });
    const batch = await cannon({ url: `http://127.0.0.1:${apiPort}/api/v1/email/batch`, method: 'POST', headers, body: batchBody, connections: 4, duration: DURATION });
    console.log(`POST /api/v1/email/batch:         ${((batch['2xx'] * 1000) / DURATION).toFixed(0)} msg/s (${batch['2xx']} batches of 1000, p99 ${batch.latency.p99} ms, non-2xx ${batch.non2xx})`);

    // End to end: a clean slate (the accepted backlog above is dropped), then E2E_MESSAGES through a worker to a sink.
    const q = new Queue('deliveries', { connection: { host: new URL(REDIS).hostname, port: Number(new URL(REDIS).port || 6379) }, prefix: `${prefix}:bull` });
    await q.obliterate({ force: true });
    await q.close();
    await db('deliveries').whereNot({ status: 'delivered' }).update({ status: 'cancelled' });
    let received = 0;
    const sink = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS'], disableReverseLookup: true, logger: false, onData(stream, _s, cb) { stream.on('data', () => undefined); stream.on('end', () => { received += 1; cb(); }); } });
    sink.on('error', () => undefined);
    const sinkPort = await freePort();
    await new Promise<void>((r) => sink.listen(sinkPort, '127.0.0.1', r));
    const started = Date.now();
    for (let i = 0; i < E2E_MESSAGES; i += 1000) {
      const body = JSON.stringify({ Messages: Array.from({ length: Math.min(1000, E2E_MESSAGES - i) }, (_, j) => message(domain, i + j)) });
      const res = await fetch(`http://127.0.0.1:${apiPort}/api/v1/email/batch`, { method: 'POST', headers, body });
      if (!res.ok) throw new Error(`batch failed: ${res.status}`);
    }
    const submitted = Date.now();
    // The worker role scales out: one process per core (BENCH_WORKERS, default 2).
    const workers = Number(process.env.BENCH_WORKERS ?? 2);
    for (let w = 0; w < workers; w++) {
      run([...(process.env.BENCH_PROFILE_WORKER ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cpuprof-worker'] : []), path.join(ROOT, 'dist/src/main.js'), 'worker'], { ...env, DELIVERY_MODE: 'relay', SMTP_RELAY_URL: `smtp://127.0.0.1:${sinkPort}`, DELIVERY_CONCURRENCY: process.env.BENCH_CONCURRENCY ?? '50', DKIM_SIGNING: process.env.BENCH_DKIM ?? '1' });
    }
    while (received < E2E_MESSAGES) {
      if (Date.now() - submitted > 600_000) throw new Error(`only ${received} of ${E2E_MESSAGES} delivered in 10 minutes`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const done = Date.now();
    console.log(`end to end (DKIM ${process.env.BENCH_DKIM === '0' ? 'off' : 'on'}, relay to sink, ${workers} worker processes): ${E2E_MESSAGES} messages delivered in ${((done - submitted) / 1000).toFixed(1)} s after submission = ${((E2E_MESSAGES * 1000) / (done - submitted)).toFixed(0)} msg/s; ${((E2E_MESSAGES * 1000) / (done - started)).toFixed(0)} msg/s including the ${((submitted - started) / 1000).toFixed(1)} s of submission`);
    await new Promise<void>((r) => sink.close(() => r()));
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await db.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS \`${dbName}\``);
    await admin.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  },
);
