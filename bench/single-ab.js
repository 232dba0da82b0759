// Paired A/B of the single-send route: node bench/single-ab.js <seconds> <rounds> <treeA> <treeB>
// Starts `postern api` from each built tree (its dist/), each on a throw-away database and Redis prefix, and in each
// round loads both AT THE SAME TIME with autocannon (BENCH_CONCURRENCY connections each, default 25: 50 together),
// so both see the same machine load. Prints per round the api CPU µs per accepted send (read from /proc), req/s and
// p99 of each tree, and at the end the median of the per-round ratios B/A. On a shared machine whose load moves by
// the second, whole bench:send runs of one tree after the other differed by ±20 % in CPU per send; these pairs by a
// few percent. Plain JS (no build), as bench/probe.js. Stops its processes by PID and removes its databases and keys.
/* global fetch */
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const autocannon = require('autocannon');
const knexFactory = require('knex');
const Redis = require('ioredis');

const MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONNECTIONS = Number(process.env.BENCH_CONCURRENCY ?? 25);
const [seconds, rounds, ...trees] = process.argv.slice(2);
const children = [];

/** CPU time (user + system) of a process so far, in ms (/proc/<pid>/stat fields 14 and 15, 100 ticks a second). */
const cpuMs = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const cannon = (opts) => new Promise((resolve, reject) => autocannon(opts, (err, res) => (err ? reject(err) : resolve(res))));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function healthy(port) {
  for (let i = 0; i < 1200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing healthy on port ${port}`);
}

async function legacy(port, params) {
  const res = await fetch(`http://127.0.0.1:${port}/api.php`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return res.json();
}

/** One api from a built tree, with a user, an enabled domain and a sender key; the same message as bench:send. */
async function start(tree) {
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
  };
  const api = { tree, port, dbName, prefix: env.REDIS_PREFIX, results: [] };
  api.child = spawn(process.execPath, [`${tree}/dist/src/main.js`, 'api'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(api.child);
  await healthy(port);
  await legacy(port, {
    Command: 'user.create',
    AdminAPIKey: env.ADMIN_API_KEY,
    RelUserGroupID: 1,
    EmailAddress: 'bench@example.com',
    Username: 'bench',
    Password: 'benchmark-password',
    FirstName: 'Bench',
    TimeZone: 'UTC',
    Language: 'en',
  });
  const login = await legacy(port, { Command: 'user.login', Username: 'bench', Password: 'benchmark-password' });
  const domain = 'bench.example.com';
  const added = await legacy(port, { Command: 'emailgateway.adddomain', SessionID: login.SessionID, DomainName: domain });
  const db = knexFactory({ client: 'mysql2', connection: `${MYSQL}/${dbName}` });
  await db('sender_domains').where({ id: added.NewSenderDomainID }).update({ status: 'Enabled' });
  await db.destroy();
  api.key = (
    await legacy(port, { Command: 'emailgateway.addapi', SessionID: login.SessionID, DomainID: added.NewSenderDomainID, Description: 'bench' })
  ).APIKey.APIKey;
  api.body = JSON.stringify({
    Subject: 'Benchmark message 0',
    ContentType: 'html',
    HTMLContent: `<h1>Hello</h1><p>${'Benchmark body text. '.repeat(40)}</p>`,
    PlainContent: 'Hello. '.repeat(40),
    From: { name: 'Bench', email: `bench@${domain}` },
    To: [{ name: 'Recipient', email: 'r0@sink.test' }],
    Tags: ['bench'],
  });
  return api;
}

async function round(api, secs) {
  const before = cpuMs(api.child.pid);
  const r = await cannon({
    url: `http://127.0.0.1:${api.port}/api/v1/email`,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.key}` },
    body: api.body,
    connections: CONNECTIONS,
    duration: secs,
  });
  return {
    us: Math.round(((cpuMs(api.child.pid) - before) * 1000) / Math.max(1, r['2xx'])),
    rps: Math.round(r['2xx'] / secs),
    p99: r.latency.p99,
    non2xx: r.non2xx,
  };
}

async function stopAndClean(api) {
  if (api.child.exitCode === null && api.child.signalCode === null) {
    const exited = new Promise((r) => api.child.once('exit', r));
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

async function main() {
  if (trees.length !== 2 || !(Number(seconds) > 0) || !(Number(rounds) > 0))
    throw new Error('usage: node bench/single-ab.js <seconds> <rounds> <treeA> <treeB>');
  const apis = [];
  try {
    for (const t of trees) apis.push(await start(t));
    await Promise.all(apis.map((a) => round(a, 2))); // warm-up: JIT, pools, first group commits
    for (let i = 0; i < Number(rounds); i++) {
      const rs = await Promise.all(apis.map((a) => round(a, Number(seconds))));
      const load = os.loadavg()[0].toFixed(2);
      apis.forEach((a, j) => {
        a.results.push(rs[j]);
        console.log(`round ${i + 1} ${a.tree}: api ${rs[j].us} µs/send, ${rs[j].rps} req/s, p99 ${rs[j].p99} ms, non-2xx ${rs[j].non2xx}, load ${load}`);
      });
    }
    const [a, b] = apis;
    for (const x of apis) {
      const r = x.results;
      console.log(`${x.tree}: median api ${median(r.map((y) => y.us))} µs/send, ${median(r.map((y) => y.rps))} req/s, p99 ${median(r.map((y) => y.p99))} ms`);
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
