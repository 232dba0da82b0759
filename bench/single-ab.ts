// Paired A/B of the single-send route: npm run bench:single-ab -- <seconds> <rounds> <treeA> <treeB>
// Starts `postern api` from each built tree (its dist/), each on a throw-away database and Redis prefix, and in each
// round loads both AT THE SAME TIME with autocannon (BENCH_CONCURRENCY connections each, default 25: 50 together),
// so both see the same machine load. Prints per round the api CPU µs per accepted send (read from /proc), req/s and
// p99 of each tree, and at the end the median of the per-round ratios B/A. On a shared machine whose load moves by
// the second, whole bench:send runs of one tree after the other differed by ±20 % in CPU per send; these pairs by a
// few percent. Runs from this tree's dist/ (the trees under test need only their own build). Stops its processes by
// PID and removes its databases and keys. BENCH_NODE_FLAGS_A / BENCH_NODE_FLAGS_B: node/V8 flags for one tree's api
// (e.g. `--max-semi-space-size=16` for B only, or `--cpu-prof --cpu-prof-dir=/tmp/x` to profile it); the same tree
// may be given twice to compare flags alone.
import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import autocannon from 'autocannon';
import Redis from 'ioredis';
import knexFactory from 'knex';
import { freePort } from '../tests/helpers/ports';
import { benchMessage, healthy, legacyApi, setupSender } from './sender-setup';

const MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONNECTIONS = Number(process.env.BENCH_CONCURRENCY ?? 25);
const [seconds, rounds, ...trees] = process.argv.slice(2);
const children: ChildProcess[] = [];

/** CPU time (user + system) of a process so far, in ms (/proc/<pid>/stat fields 14 and 15, 100 ticks a second). */
const cpuMs = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const cannon = (opts: autocannon.Options) =>
  new Promise<autocannon.Result>((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface RoundResult {
  us: number;
  rps: number;
  p99: number;
  non2xx: number;
}

interface TreeApi {
  tree: string;
  port: number;
  dbName: string;
  prefix: string;
  child: ChildProcess;
  key: string;
  body: string;
  results: RoundResult[];
}

/** One api from a built tree, with a user, an enabled domain and a sender key; the same message as bench:send. */
async function start(tree: string, nodeFlags: string[]): Promise<TreeApi> {
  const id = crypto.randomBytes(4).toString('hex');
  const dbName = `postern_bench_ab_${id}`;
  const admin = knexFactory({ client: 'mysql2', connection: MYSQL });
  await admin.raw(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4`);
  await admin.destroy();
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: `${MYSQL}/${dbName}`,
    REDIS_URL: REDIS,
    REDIS_PREFIX: `postern-bench:ab${id}`,
    ENCRYPTION_KEY: crypto.randomBytes(32).toString('hex'),
    ADMIN_API_KEY: `bench-admin-${id}-xxxxxxxx`,
    MAIL_HOSTNAME: 'mx.bench.test',
    API_RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'warn',
    OPS_HOST: '127.0.0.1',
    PORT: String(port),
    HOST: '127.0.0.1',
    // Each api prints its group-commit sizes and flush times at exit (src/coalesce.ts).
    ...(process.env.POSTERN_COALESCE_STATS ? { POSTERN_COALESCE_STATS: process.env.POSTERN_COALESCE_STATS } : {}),
  };
  const child = spawn(process.execPath, [...nodeFlags, `${tree}/dist/src/main.js`, 'api'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const api: TreeApi = { tree, port, dbName, prefix: env.REDIS_PREFIX, child, key: '', body: '', results: [] };
  await healthy(port);
  const domain = 'bench.example.com';
  const db = knexFactory({ client: 'mysql2', connection: `${MYSQL}/${dbName}` });
  try {
    api.key = (await setupSender(legacyApi(port), { adminKey: env.ADMIN_API_KEY, db, domains: [domain] })).key;
  } finally {
    await db.destroy();
  }
  api.body = JSON.stringify(benchMessage(domain, 0));
  return api;
}

async function round(api: TreeApi, secs: number): Promise<RoundResult> {
  const before = cpuMs(api.child.pid!);
  const r = await cannon({
    url: `http://127.0.0.1:${api.port}/api/v1/email`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.key}` },
    body: api.body,
    connections: CONNECTIONS,
    duration: secs,
  });
  return {
    us: Math.round(((cpuMs(api.child.pid!) - before) * 1000) / Math.max(1, r['2xx'])),
    rps: Math.round(r['2xx'] / secs),
    p99: r.latency.p99,
    non2xx: r.non2xx,
  };
}

async function stopAndClean(api: TreeApi): Promise<void> {
  if (api.child.exitCode === null && api.child.signalCode === null) {
    const exited = new Promise<void>((r) => api.child.once('exit', () => r()));
    api.child.kill('SIGTERM');
    await exited;
  }
  const admin = knexFactory({ client: 'mysql2', connection: MYSQL });
  await admin.raw(`DROP DATABASE IF EXISTS \`${api.dbName}\``);
  await admin.destroy();
  const redis = new Redis(REDIS, { maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${api.prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

async function main(): Promise<void> {
  if (trees.length !== 2 || !(Number(seconds) > 0) || !(Number(rounds) > 0))
    throw new Error('usage: npm run bench:single-ab -- <seconds> <rounds> <treeA> <treeB>');
  const apis: TreeApi[] = [];
  try {
    const flags = (ab: string) => (process.env[`BENCH_NODE_FLAGS_${ab}`] ?? '').split(/\s+/).filter(Boolean);
    for (const [i, t] of trees.entries()) apis.push(await start(t, flags(i ? 'B' : 'A')));
    await Promise.all(apis.map((a) => round(a, 2))); // warm-up: JIT, pools, first group commits
    for (let i = 0; i < Number(rounds); i++) {
      const rs = await Promise.all(apis.map((a) => round(a, Number(seconds))));
      const load = os.loadavg()[0].toFixed(2);
      apis.forEach((a, j) => {
        a.results.push(rs[j]);
        console.log(
          `round ${i + 1} ${j ? 'B' : 'A'} ${a.tree}: api ${rs[j].us} µs/send, ${rs[j].rps} req/s, p99 ${rs[j].p99} ms, non-2xx ${rs[j].non2xx}, load ${load}`,
        );
      });
    }
    const [a, b] = apis;
    for (const [j, x] of apis.entries()) {
      const r = x.results;
      console.log(
        `${j ? 'B' : 'A'} ${x.tree}: median api ${median(r.map((y) => y.us))} µs/send, ${median(r.map((y) => y.rps))} req/s, p99 ${median(r.map((y) => y.p99))} ms`,
      );
    }
    const ratios = a.results.map((r, i) => Math.round((b.results[i].us / r.us) * 1000) / 1000);
    console.log(`B/A api CPU per send, per round: ${ratios.join(', ')}; median ${median(ratios)}`);
  } finally {
    for (const x of apis) await stopAndClean(x);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(1);
  },
);
