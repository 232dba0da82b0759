/**
 * jest's globalTeardown: drops the pooled test databases (tests/helpers/db-pool.ts) of jest workers that have
 * exited, this run's and any a killed run left, and their entries, removes the port claims
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
const PREFIX = 'postern_test_pool_';

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
    const [rows] = await c.query('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [`${PREFIX}%`]);
    for (const { name } of rows) {
      const pid = Number(name.slice(PREFIX.length).split('_')[0]);
      if (pid && !alive(pid)) await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
  } finally {
    await c.end();
  }
  for (const f of fs.existsSync(POOL_DIR) ? fs.readdirSync(POOL_DIR) : []) {
    const pid = Number(f.split('.')[0]);
    if (pid && !alive(pid)) fs.rmSync(path.join(POOL_DIR, f), { force: true });
  }
};
module.exports.sweepPrivateServers = sweepPrivateServers;
