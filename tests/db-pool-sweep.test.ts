/**
 * jest's globalTeardown (tests/helpers/db-pool-sweep.js) drops the shared server's test databases of jest workers that
 * have exited: the pool's and the migration template's scratch ones. A live worker's stay, and so does every database
 * of any other name. The teardown runs in a child process, as jest runs it in its parent: run in this worker, it would
 * take this worker's own pooled databases for a finished run's.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type mysql from 'mysql2/promise';
import { endRoot, rootConnection } from './helpers/db-template';
import { MYSQL_ROOT } from './helpers/harness';

const SWEEP = path.join(__dirname, 'helpers/db-pool-sweep.js');
const teardown = () =>
  promisify(execFile)(process.execPath, ['-e', `require(${JSON.stringify(SWEEP)})().catch((e) => { console.error(e); process.exit(1); })`]);

/** A pid no process has any more: a child that has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;
const hex = () => crypto.randomBytes(4).toString('hex');

let c: mysql.Connection;
const made: string[] = [];
beforeAll(async () => {
  c = await rootConnection(MYSQL_ROOT);
});
afterAll(async () => {
  for (const name of made) await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await endRoot(c);
});

async function existing(names: string[]): Promise<string[]> {
  const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (?)', [names]);
  return rows.map((r) => String(r.name)).sort();
}

it("drops the template and pool databases of exited workers, never a live worker's nor another name", async () => {
  const dead = deadPid();
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    const dropped = [`postern_tpl_${dead}_${hex()}`, `postern_test_pool_${dead}_${hex()}`];
    const kept = [
      `postern_tpl_${live.pid}_${hex()}`,
      `postern_test_pool_${live.pid}_${hex()}`,
      // Named for the dead pid too, but not in either shape.
      `postern_tpl_${dead}_${hex()}_copy`,
      `postern_tpl_${dead}`,
      `postern_tplx${dead}_${hex()}`,
      `postern_test_${dead}_${hex()}`,
      `app_postern_tpl_${dead}_${hex()}`,
    ];
    for (const name of [...dropped, ...kept]) {
      made.push(name);
      await c.query(`CREATE DATABASE \`${name}\``);
    }
    await teardown();
    expect(await existing([...dropped, ...kept])).toEqual([...kept].sort());
  } finally {
    live.kill('SIGKILL');
  }
});
