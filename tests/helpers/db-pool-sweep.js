/**
 * jest's globalTeardown: drops the pooled test databases (tests/helpers/db-pool.ts) of jest workers that have
 * exited, this run's and any a killed run left, and their entries, and removes the port claims
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

module.exports = async function sweepPooledDatabases() {
  sweepPortClaims();
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
