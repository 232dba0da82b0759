/**
 * npm run bench:send — accepted single sends/s next to a bare express endpoint (autocannon, 50 connections),
 * accepted messages/s through the batch route, and end to end to a local SMTP sink with DKIM off and on, timed
 * from the first submission to the last delivery at the sink (the workers run while the batches go in). Runs the
 * built gateway as separate processes against MariaDB + Redis on loopback, in a database and Redis key prefix of
 * its own that it removes afterwards. Measures beside them, in the same run: one thread's RSA-2048 sign rate
 * (bench/probe.js rsa), the api's and the workers' RSS every 100 ms (peak and median per phase and over the run) and
 * the mean 1-minute load (bench/probe.js rss).
 * Ends with one line `BENCH {json}` (issue 15's keys); what this run does not measure is null.
 * Knobs: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (3: unmeasured load on the bare endpoint and the single route
 * before they are timed; 0: timed from cold), BENCH_E2E_MESSAGES (20000 per pass), BENCH_E2E_SUBMITTERS (4 batch requests in
 * flight), BENCH_E2E_WARMUP_MESSAGES (4000 through each pass's fresh workers before its clock starts; 0: timed from
 * cold), BENCH_WORKERS (2), BENCH_CONCURRENCY (50), BENCH_DKIM (unset: both passes; 0 or 1: only that one),
 * BENCH_NODE_FLAGS (node/V8 flags for the api and workers, e.g. `--max-semi-space-size=8`, for A/B runs), and any
 * BATCH_ACCEPT_* or DELIVERY_* variable, HEAP_GROWING_PERCENT, GROUP_COMMIT_OVERLAP_MS and POSTERN_COALESCE_STATS are passed to the gateway
 * (e.g. BATCH_ACCEPT_CONCURRENCY=64: batches side by side; HEAP_GROWING_PERCENT=0: V8's own heap growth;
 * POSTERN_COALESCE_STATS=1: each process prints its group-commit sizes at exit; DELIVERY_CONCURRENCY=50: the workers'
 * concurrency, otherwise the gateway's default),
 * BENCH_PROFILE_API=1 / BENCH_PROFILE_WORKER=1, BENCH_DEBUG=1, BENCH_E2E_ONLY=1 (only the end-to-end passes: for A/B runs of the
 * delivery path, without the earlier phases' leftover jobs in the workers' first seconds), BENCH_SINGLE_ONLY=1 (only the
 * bare endpoint and the single sends: for A/B runs of the single route), BENCH_TREE (the built tree whose
 * dist/src/main.js runs the api and workers; default this one: A/B runs of another tree with this bench).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import knexFactory from 'knex';
// Ports below the kernel's ephemeral range, claimed by lock file: no race with the load tools' own sockets.
import { freePort } from '../tests/helpers/ports';
import { benchMessage, healthy, legacyApi, setupSender } from './sender-setup';
import { Sink, sinkKind, startSink } from './sink';

const ROOT = path.resolve(__dirname, '../..');
const PROBE = path.join(ROOT, 'bench/probe.js');
const MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const E2E_MESSAGES = Number(process.env.BENCH_E2E_MESSAGES ?? 20000);
// Messages delivered through a pass's fresh workers before its clock starts (0: timed from cold). A production worker
// runs for days; a fresh one spends its first seconds in V8's optimising compiler (~20 % of a pass's worker CPU,
// bench/README.md), which is start-up, not throughput. Both figures are printed; the BENCH line holds the warm one.
const E2E_WARMUP = Number(process.env.BENCH_E2E_WARMUP_MESSAGES ?? 4000);
const SUBMITTERS = Number(process.env.BENCH_E2E_SUBMITTERS ?? 4);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const DKIM_PASSES = process.env.BENCH_DKIM === '0' ? [false] : process.env.BENCH_DKIM === '1' ? [true] : [false, true];
const E2E_ONLY = process.env.BENCH_E2E_ONLY === '1';
const SINGLE_ONLY = process.env.BENCH_SINGLE_ONLY === '1';
const MAIN = path.join(path.resolve(process.env.BENCH_TREE ?? ROOT), 'dist/src/main.js');
const SINK = sinkKind();
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
// A profiled process gets the heap-growth cap as a node flag: set at run time (src/heap-growth.ts), V8 flags stop
// --cpu-prof from writing its profile at exit (seen on Node 20).
const profiled = (on: string | undefined, dir: string) =>
  on ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--heap-growing-percent=${process.env.HEAP_GROWING_PERCENT ?? 30}`] : [];
const children: ChildProcess[] = [];

/** The issue-15 figures; null where this run did not measure one. */
interface BenchLine {
  batch_msg_s: number | null;
  single_ratio: number | null;
  single_p99_ms: number | null;
  e2e_dkim_off_msg_s: number | null;
  e2e_dkim_on_msg_s: number | null;
  rsa_signs_s: number | null;
  relay_ratio_pooled: number | null;
  relay_ratio_new_conn: number | null;
  api_rss_mb: number | null;
  worker_rss_mb: number | null;
  /** Medians of every 100 ms sample over the sampled phases (not in issue 15's list: how long the peak lasts). */
  api_rss_p50_mb: number | null;
  worker_rss_p50_mb: number | null;
  /** CPU µs per accepted message of the api and of MariaDB (not in issue 15's list: comparable across loaded runs). */
  batch_api_cpu_us: number | null;
  batch_db_cpu_us: number | null;
  single_api_cpu_us: number | null;
  single_db_cpu_us: number | null;
  load1: number | null;
}

interface Sample {
  /** Peak per PID. */
  rss_mb: Record<string, number | null>;
  rss_p50_mb: Record<string, number | null>;
  rss_samples_mb: Record<string, number[]>;
  load1: number;
  samples: number;
}

/** Samples the processes' RSS and the machine load in a process of its own until stopped. */
function sampleWhile(pids: number[]): { stop(): Promise<Sample> } {
  const child = spawn(process.execPath, [PROBE, 'rss', ...pids.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      // On a busy machine a short phase can end before node has even run the probe's script; killed then, it prints
      // nothing. The run goes on without that phase's RSS figures instead of dying on JSON.parse('').
      if (!out.trim()) {
        process.stderr.write('bench: the RSS probe was stopped before it sampled anything: no RSS figures for this phase\n');
        return { rss_mb: {}, rss_p50_mb: {}, rss_samples_mb: {}, load1: os.loadavg()[0], samples: 0 };
      }
      return JSON.parse(out) as Sample;
    },
  };
}

/** CPU time (user + system) a process has used so far, in ms; null when it cannot be read (another OS, gone). */
function cpuMs(pid: number | null): number | null {
  if (!pid) return null;
  try {
    // /proc/<pid>/stat: fields 14 and 15 (utime, stime) in clock ticks (100 a second on Linux), after the command name.
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

/**
 * The PIDs of the MariaDB and Redis servers this run talks to (asked of the servers themselves: a test may run a
 * private mariadbd beside the shared one), to read their CPU time beside ours.
 */
async function serverPids(db: knexFactory.Knex): Promise<{ mariadb: number | null; redis: number | null }> {
  const read = async (f: () => Promise<number | null>) => f().catch(() => null);
  const mariadb = await read(async () => {
    const [[row]] = (await db.raw('select @@pid_file as f')) as [{ f: string }[]];
    return Number(fs.readFileSync(row.f, 'utf8').trim()) || null;
  });
  const redis = await read(async () => {
    const client = new Redis(REDIS, { maxRetriesPerRequest: 1 });
    try {
      return Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]) || null;
    } finally {
      client.disconnect();
    }
  });
  return { mariadb, redis };
}

/**
 * CPU µs per message of each named group of processes over one phase, read from /proc before and after: unlike a
 * rate, it stays comparable when the machine is loaded. `null` where a process could not be read.
 */
function cpuSplit(pids: Record<string, (number | null)[]>): (messages: number) => Record<string, number | null> {
  const total = (list: (number | null)[]) => {
    let sum = 0;
    for (const p of list) {
      const v = cpuMs(p);
      if (v === null) return null;
      sum += v;
    }
    return sum;
  };
  const start = Object.fromEntries(Object.entries(pids).map(([k, list]) => [k, total(list)]));
  return (messages) =>
    Object.fromEntries(
      Object.entries(pids).map(([k, list]) => {
        const now = total(list);
        return [k, now === null || start[k] === null || !messages ? null : round(((now - start[k]!) * 1000) / messages)];
      }),
    );
}

const cpuText = (cpu: Record<string, number | null>) =>
  Object.entries(cpu)
    .map(([k, v]) => `${k} ${v ?? '-'} µs`)
    .join(', ');

/** MariaDB's own counters (global: every client of the server counts, so read them from a quiet machine). */
const DB_COUNTERS = [
  'Questions',
  'Com_commit',
  'Com_stmt_execute',
  'Handler_read_key',
  'Handler_read_next',
  'Handler_write',
  'Handler_update',
  'Innodb_data_fsyncs',
  'Bytes_received',
];

async function dbCounters(db: knexFactory.Knex): Promise<Record<string, number>> {
  const [rows] = (await db.raw(`show global status where Variable_name in (${DB_COUNTERS.map(() => '?').join(', ')})`, DB_COUNTERS)) as [
    { Variable_name: string; Value: string }[],
  ];
  return Object.fromEntries(rows.map((r) => [r.Variable_name, Number(r.Value)]));
}

/** The counters' growth per message over one phase, e.g. `Questions 0.031, Innodb_data_fsyncs 0.004`. */
async function dbCountersPer(db: knexFactory.Knex, before: Record<string, number>, messages: number): Promise<string> {
  const after = await dbCounters(db);
  return DB_COUNTERS.map((k) => `${k} ${messages ? round((after[k] - before[k]) / messages, 3) : '-'}`).join(', ');
}

const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Peak and median of one process's samples (or of several processes' together), e.g. `peak 412 / p50 298 MB`. */
function rssOf(samples: Sample[], pids: number[]): { peak: number | null; p50: number | null; text: string } {
  const all = samples.flatMap((s) => pids.flatMap((p) => s.rss_samples_mb[p] ?? [])).sort((a, b) => a - b);
  const peak = all.length ? all[all.length - 1] : null;
  const p50 = all.length ? all[Math.floor(all.length / 2)] : null;
  return { peak, p50, text: `peak ${peak ?? '-'} / p50 ${p50 ?? '-'} MB` };
}

function run(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}

/** Stops one child by its PID (SIGTERM, then SIGKILL after 10 s, 60 s when profiling) and waits for it to exit. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  // A profiled process writes its profile on the way out, which takes a while after a long run.
  const grace = process.env.BENCH_PROFILE_API || process.env.BENCH_PROFILE_WORKER ? 60_000 : 10_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), grace);
  await exited;
  clearTimeout(timer);
}

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
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
    OPS_HOST: '127.0.0.1',
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] =>
          (e[0].startsWith('BATCH_ACCEPT_') ||
            e[0].startsWith('DELIVERY_') ||
            e[0] === 'HEAP_GROWING_PERCENT' ||
            e[0] === 'POSTERN_COALESCE_STATS' ||
            e[0] === 'GROUP_COMMIT_OVERLAP_MS') &&
          e[1] !== undefined,
      ),
    ),
  };
  const line: BenchLine = {
    batch_msg_s: null,
    single_ratio: null,
    single_p99_ms: null,
    e2e_dkim_off_msg_s: null,
    e2e_dkim_on_msg_s: null,
    rsa_signs_s: null,
    relay_ratio_pooled: null,
    relay_ratio_new_conn: null,
    api_rss_mb: null,
    worker_rss_mb: null,
    api_rss_p50_mb: null,
    batch_api_cpu_us: null,
    batch_db_cpu_us: null,
    single_api_cpu_us: null,
    single_db_cpu_us: null,
    worker_rss_p50_mb: null,
    load1: null,
  };
  const samples: Sample[] = [];
  let apiPid: number;
  const workerPids: number[] = [];
  try {
    const apiPort = await freePort();
    const apiChild = run([...NODE_FLAGS, ...profiled(process.env.BENCH_PROFILE_API, '/tmp/cpuprof-api'), MAIN, 'api'], {
      ...env,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
    });
    apiPid = apiChild.pid!;
    await healthy(apiPort);
    const barePort = await freePort();
    run([path.join(ROOT, 'dist/bench/bare-express.js')], { PORT: String(barePort) });
    await healthy(barePort);

    const domain = 'bench.example.com';
    const { key } = await setupSender(legacyApi(apiPort), { adminKey: env.ADMIN_API_KEY, db, domains: [domain] });

    const servers = await serverPids(db);
    const one = JSON.stringify(benchMessage(domain, 0));
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
    console.log(`# Postern send benchmark (${DURATION} s per run, node ${process.version}${NODE_FLAGS.length ? ` ${NODE_FLAGS.join(' ')}` : ''})`);

    // This machine's RSA ceiling now, before the load starts: the DKIM-on figure reads as a share of it.
    line.rsa_signs_s = Number(execFileSync(process.execPath, [PROBE, 'rsa', '2000']).toString().trim());
    console.log(`RSA-2048 signatures, one thread:  ${line.rsa_signs_s}/s`);

    if (!E2E_ONLY) {
      const bareUrl = `http://127.0.0.1:${barePort}/api/v1/email`;
      const mineUrl = `http://127.0.0.1:${apiPort}/api/v1/email`;
      if (WARMUP > 0) {
        // Steady state, as bench:single-ab measures it: both servers take the same unmeasured load first, so the
        // figures are not the first seconds' JIT compilation, pool connects and cold caches.
        const bareWarm = await cannon({ url: bareUrl, method: 'POST', headers, body: one, connections: 50, duration: WARMUP });
        const mineWarm = await cannon({ url: mineUrl, method: 'POST', headers, body: one, connections: 50, duration: WARMUP });
        console.log(`warm-up (${WARMUP} s each, not counted): bare p99 ${bareWarm.latency.p99} ms, Postern p99 ${mineWarm.latency.p99} ms`);
      }
      const singles = sampleWhile([apiPid]);
      const bare = await cannon({ url: bareUrl, method: 'POST', headers, body: one, connections: 50, duration: DURATION });
      const singleCpu = cpuSplit({ api: [apiPid], mariadb: [servers.mariadb] });
      const mine = await cannon({ url: mineUrl, method: 'POST', headers, body: one, connections: 50, duration: DURATION });
      const sCpu = singleCpu(mine['2xx']);
      line.single_api_cpu_us = sCpu.api;
      line.single_db_cpu_us = sCpu.mariadb;
      const bareRps = bare['2xx'] / DURATION;
      const mineRps = mine['2xx'] / DURATION;
      line.single_ratio = round(mineRps / bareRps, 3);
      line.single_p99_ms = mine.latency.p99;
      console.log(`bare express JSON endpoint:      ${bareRps.toFixed(0)} req/s (p99 ${bare.latency.p99} ms)`);
      console.log(`POST /api/v1/email accepted:      ${mineRps.toFixed(0)} req/s (p99 ${mine.latency.p99} ms, non-2xx ${mine.non2xx}, errors ${mine.errors})`);
      const single = await singles.stop();
      samples.push(single);
      console.log(`  CPU per single send: ${cpuText(sCpu)}`);
      console.log(`ratio single / bare:              ${line.single_ratio} (target >= 0.3, p99 <= 50 ms); api RSS ${rssOf([single], [apiPid]).text}`);
    }
    if (!E2E_ONLY && !SINGLE_ONLY) {
      const accept = sampleWhile([apiPid]);
      const batchCpu = cpuSplit({ api: [apiPid], mariadb: [servers.mariadb] });
      const batchDb = await dbCounters(db);
      const batchBody = JSON.stringify({ Messages: Array.from({ length: 1000 }, (_, i) => benchMessage(domain, i)) });
      const batch = await cannon({
        url: `http://127.0.0.1:${apiPort}/api/v1/email/batch`,
        method: 'POST',
        headers,
        body: batchBody,
        connections: 4,
        duration: DURATION,
      });
      // Batches still in flight when the window closes are not counted; none finished means no figure, not zero.
      line.batch_msg_s = batch['2xx'] ? round((batch['2xx'] * 1000) / DURATION) : null;
      const cpu = batchCpu(batch['2xx'] * 1000);
      line.batch_api_cpu_us = cpu.api;
      line.batch_db_cpu_us = cpu.mariadb;
      const accepted = await accept.stop();
      samples.push(accepted);
      console.log(`  CPU per message accepted (batch): ${cpuText(cpu)} (batches still in flight at the end count too)`);
      console.log(`  MariaDB per message accepted (batch): ${await dbCountersPer(db, batchDb, batch['2xx'] * 1000)}`);
      console.log(
        `POST /api/v1/email/batch:         ${line.batch_msg_s} msg/s (${batch['2xx']} batches of 1000, p99 ${batch.latency.p99} ms, non-2xx ${batch.non2xx}); api RSS ${rssOf([accepted], [apiPid]).text}, load ${accepted.load1}`,
      );
    }

    for (const dkim of SINGLE_ONLY ? [] : DKIM_PASSES) {
      const pass = await endToEnd({ dkim, apiPid, apiPort, headers, domain, env, db, prefix, servers, sink: SINK });
      samples.push(pass.sample);
      workerPids.push(...pass.workerPids);
      if (dkim) line.e2e_dkim_on_msg_s = pass.rate;
      else line.e2e_dkim_off_msg_s = pass.rate;
    }
  } finally {
    for (const c of children) await stop(c);
    await db.destroy();
    await admin.raw(`DROP DATABASE IF EXISTS \`${dbName}\``);
    await admin.destroy();
    console.log(`cleaned up: database ${dbName} dropped, ${await removeKeys(prefix)} Redis keys under ${prefix}: removed`);
  }
  const apiRss = rssOf(samples, [apiPid]);
  const workerRss = rssOf(samples, workerPids);
  line.api_rss_mb = apiRss.peak;
  line.worker_rss_mb = workerRss.peak;
  line.api_rss_p50_mb = apiRss.p50;
  line.worker_rss_p50_mb = workerRss.p50;
  console.log(`RSS over the sampled phases: api ${apiRss.text}, workers ${workerRss.text} (target <= 300 MB each)`);
  const n = samples.reduce((a, s) => a + s.samples, 0);
  line.load1 = n ? round(samples.reduce((a, s) => a + s.load1 * s.samples, 0) / n, 2) : null;
  console.log(`BENCH ${JSON.stringify(line)}`);
}

/**
 * One end-to-end pass: workers up first, then E2E_MESSAGES through the batch route (SUBMITTERS requests in
 * flight), timed from the first submission to the last message at the sink.
 */
async function endToEnd(o: {
  dkim: boolean;
  apiPid: number;
  apiPort: number;
  headers: Record<string, string>;
  domain: string;
  env: Record<string, string>;
  db: knexFactory.Knex;
  prefix: string;
  servers: { mariadb: number | null; redis: number | null };
  sink: Sink['kind'];
}): Promise<{ rate: number; sample: Sample; workerPids: number[] }> {
  // A clean slate: what earlier phases accepted is dropped, so the sink counts only this pass.
  const q = new Queue('deliveries', { connection: { host: new URL(REDIS).hostname, port: Number(new URL(REDIS).port || 6379) }, prefix: `${o.prefix}:bull` });
  await q.obliterate({ force: true });
  await q.close();
  // Batches the batch phase accepted as one row each are not messages yet: dropped too, or the workers expand them.
  // TRUNCATE, not DELETE: a DELETE left ~300 rows of 1.5 MB blobs for InnoDB to purge while the next pass ran, and
  // that pass (the bench's own clean-up, not the send path) came out 7-11 % slower (bench/README.md, fifteenth VM).
  await o.db.raw('truncate table `pending_batches`');
  await o.db('deliveries').whereNot({ status: 'delivered' }).update({ status: 'cancelled' });
  // What MariaDB still has to do from earlier phases (purge, flushing), printed so runs can be compared.
  const [[history]] = (await o.db.raw("select `count` as n from information_schema.innodb_metrics where name = 'trx_rseg_history_len'")) as [{ n: number }[]];
  const [[dirty]] = (await o.db.raw("show global status like 'Innodb_buffer_pool_pages_dirty'")) as [{ Value: string }[]];
  console.log(`  MariaDB at the pass's start: undo history ${history?.n ?? '?'}, dirty pages ${dirty?.Value ?? '?'}`);
  const sink = await startSink(o.sink, await freePort());
  const sinkPort = sink.port;
  const workers: ChildProcess[] = [];
  for (let w = 0; w < WORKERS; w++) {
    const opsPort = await freePort();
    workers.push(
      run([...NODE_FLAGS, ...profiled(process.env.BENCH_PROFILE_WORKER, '/tmp/cpuprof-worker'), MAIN, 'worker'], {
        ...o.env,
        OPS_PORT: String(opsPort),
        DELIVERY_MODE: 'relay',
        SMTP_RELAY_URL: `smtp://127.0.0.1:${sinkPort}`,
        DKIM_SIGNING: o.dkim ? '1' : '0',
      }),
    );
    await healthy(opsPort);
  }
  const workerPids = workers.map((w) => w.pid!);
  const bodiesOf = (count: number, from: number) => {
    const out: string[] = [];
    for (let i = 0; i < count; i += 1000) {
      out.push(JSON.stringify({ Messages: Array.from({ length: Math.min(1000, count - i) }, (_, j) => benchMessage(o.domain, from + i + j)) }));
    }
    return out;
  };
  const warm = E2E_WARMUP > 0 ? await timedPass(o, sink, bodiesOf(E2E_WARMUP, E2E_MESSAGES), E2E_WARMUP, await sink.received()) : null;
  if (warm) {
    // What the warm-up leaves to settle (its last deliveries' group commit) is done before the clock starts.
    await new Promise((r) => setTimeout(r, 1000));
    console.log(`  warm-up: ${E2E_WARMUP} messages through the fresh workers in ${(warm.ms / 1000).toFixed(1)} s = ${warm.rate} msg/s from cold (not counted)`);
  }
  const base = await sink.received();
  const sampler = sampleWhile([o.apiPid, ...workerPids]);
  const dbBefore = await dbCounters(o.db);
  const split = cpuSplit({
    api: [o.apiPid],
    workers: workerPids,
    mariadb: [o.servers.mariadb],
    redis: [o.servers.redis],
    bench: [process.pid],
    sink: [sink.pid],
  });
  // The request bodies are built before the clock starts: a client's own work, not the gateway's.
  const { started, submitted, done, retries } = await timedPass(o, sink, bodiesOf(E2E_MESSAGES, 0), E2E_MESSAGES, base);
  const cpu = split(E2E_MESSAGES);
  const dbPer = await dbCountersPer(o.db, dbBefore, E2E_MESSAGES);
  const sample = await sampler.stop();
  for (const w of workers) await stop(w);
  await sink.stop();
  const rate = round((E2E_MESSAGES * 1000) / (done - started));
  console.log(
    `end to end, DKIM ${o.dkim ? 'on ' : 'off'} (${WORKERS} workers, relay to the ${sink.kind} sink): ${E2E_MESSAGES} messages from first submission to last delivery in ${((done - started) / 1000).toFixed(1)} s = ${rate} msg/s (all submitted after ${((submitted - started) / 1000).toFixed(1)} s, ${retries} batch requests retried after a 503, 429 or 408); RSS api ${rssOf([sample], [o.apiPid]).text}, workers ${workerPids.map((p) => rssOf([sample], [p]).text).join(', ')}, load ${sample.load1}`,
  );
  console.log(`  CPU per message delivered: ${cpuText(cpu)} (2 cores give ${round(2e6 / rate)} µs of wall time per message)`);
  console.log(`  MariaDB per message delivered: ${dbPer}`);
  return { rate, sample, workerPids };
}

/**
 * Submits the bodies through the batch route (SUBMITTERS requests in flight) and waits until the sink has counted
 * them all beyond `base`: timed from the first submission to the last message at the sink.
 */
async function timedPass(
  o: { apiPort: number; headers: Record<string, string> },
  sink: Sink,
  bodies: string[],
  count: number,
  base: number,
): Promise<{ started: number; submitted: number; done: number; retries: number; ms: number; rate: number }> {
  const expected = base + count;
  const started = Date.now();
  let next = 0;
  let retries = 0;
  const submit = async () => {
    while (next < bodies.length) {
      const body = bodies[next];
      next += 1;
      for (;;) {
        const res = await fetch(`http://127.0.0.1:${o.apiPort}/api/v1/email/batch`, { method: 'POST', headers: o.headers, body });
        if (res.ok) break;
        // As a client should: a 503 (database or queue slow to answer on a loaded machine) or 429 is retried after
        // Retry-After; the time it costs stays inside the measured window.
        // A 408 is Node's own reply on a connection it found expired (it closes it): sent again at once, counted.
        if (res.status !== 503 && res.status !== 429 && res.status !== 408) throw new Error(`batch failed: ${res.status} ${await res.text()}`);
        retries += 1;
        await res.arrayBuffer();
        if (res.status === 408) continue;
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 5) * 1000));
      }
    }
  };
  await Promise.all(Array.from({ length: SUBMITTERS }, submit));
  const submitted = Date.now();
  while ((await sink.received()) < expected) {
    if (Date.now() - started > 600_000) throw new Error(`only ${(await sink.received()) - base} of ${expected - base} delivered in 10 minutes`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const done = Date.now();
  return { started, submitted, done, retries, ms: done - started, rate: round(((expected - base) * 1000) / (done - started)) };
}

/** Removes every Redis key this run's prefix made (BullMQ's queues and the gateway's own keys). */
async function removeKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(1);
  },
);
