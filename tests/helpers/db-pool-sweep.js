/**
 * jest's globalTeardown: drops the pooled test databases (tests/helpers/db-pool.ts) and the migration template's
 * scratch databases (tests/helpers/db-template.ts) of jest workers that have exited, this run's and any a killed run
 * left, and the pool's entries, removes the port claims
 * (tests/helpers/ports.ts) of exited processes (jest ends its workers without their exit handlers). Databases and
 * ports of live processes (another jest run on the same server) are left alone. Plain JS: jest loads it outside
 * any project's transform.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const mysql = require('mysql2/promise');

const POOL_DIR = path.join(os.tmpdir(), 'postern-test-pool');
const PORTS_DIR = path.join(os.tmpdir(), 'postern-test-ports');
const PRIVATE_REGISTRY = path.join(os.tmpdir(), 'postern-test-private');
/**
 * The shared server's databases named for the jest worker that made them: the pool's, and the scratch database a
 * worker migrates for its template (left behind when the worker is killed mid-migration). Only these exact shapes
 * (`<prefix><pid>_<8 hex>`) are ever dropped.
 */
const WORKER_DATABASES = [/^postern_test_pool_(\d+)_[0-9a-f]{8}$/, /^postern_tpl_(\d+)_[0-9a-f]{8}$/];

/** Whether a worker still runs: a run in band used this very process, which is ending. */
function alive(pid) {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Port claim files hold their owner's pid. */
function sweepPortClaims() {
  for (const f of fs.existsSync(PORTS_DIR) ? fs.readdirSync(PORTS_DIR) : []) {
    const file = path.join(PORTS_DIR, f);
    let pid;
    try {
      pid = Number(fs.readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    if (!pid || !alive(pid)) fs.rmSync(file, { force: true });
  }
}

/**
 * Whether process `pid` works inside `dir` (MariaDB and Redis change into their data dir), so that a pid the system
 * has since given to another process is never killed. Its arguments would not do: Redis rewrites its own.
 */
function worksIn(pid, dir) {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(dir);
  } catch {
    return false;
  }
}

/**
 * Private MariaDB and Redis servers (tests/helpers/private-servers.ts) whose jest worker is gone without ending
 * them (killed outright): each is killed by its pid, after SIGCONT in case a test had frozen it, and its data
 * removed. Entries of live workers are left alone.
 */
function sweepPrivateServers() {
  for (const f of fs.existsSync(PRIVATE_REGISTRY) ? fs.readdirSync(PRIVATE_REGISTRY) : []) {
    const [owner, pid] = f.split('-').map(Number);
    if (!owner || alive(owner)) continue;
    const entry = path.join(PRIVATE_REGISTRY, f);
    let dir;
    try {
      dir = fs.readFileSync(entry, 'utf8');
    } catch {
      continue;
    }
    const ours = dir.startsWith(path.join(os.tmpdir(), 'postern-'));
    if (ours && pid && alive(pid) && worksIn(pid, dir)) {
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    if (ours) fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(entry, { force: true });
  }
}

/** Drops the WORKER_DATABASES of exited workers on the server `c` is connected to; any other database stays. */
async function sweepWorkerDatabases(c) {
  const [rows] = await c.query("SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'postern%'");
  for (const { name } of rows) {
    const pid = Number(WORKER_DATABASES.map((shape) => shape.exec(name)?.[1]).find(Boolean));
    if (pid && !alive(pid)) await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
  }
}

module.exports = async function sweepPooledDatabases() {
  sweepPortClaims();
  sweepPrivateServers();
  if (process.env.POSTERN_TEST_DB === 'sqlite') return;
  const root = new URL(process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306');
  let c;
  try {
    c = await mysql.createConnection({
      host: root.hostname,
      port: root.port ? Number(root.port) : 3306,
      user: decodeURIComponent(root.username),
      password: decodeURIComponent(root.password),
    });
  } catch {
    return; // no MariaDB (an embedded-only run): nothing was pooled there
  }
  try {
    await sweepWorkerDatabases(c);
  } finally {
    await c.end();
  }
  for (const f of fs.existsSync(POOL_DIR) ? fs.readdirSync(POOL_DIR) : []) {
    const pid = Number(f.split('.')[0]);
    if (pid && !alive(pid)) fs.rmSync(path.join(POOL_DIR, f), { force: true });
  }
};
module.exports.sweepPrivateServers = sweepPrivateServers;
