/**
 * The built gateway's first start, as an operator meets it (issue 18 item 4): `postern migrate` against a MariaDB
 * server without the database creates it when the account may, and otherwise prints one line saying what to
 * run (no stack trace); the first-start banner names the role that printed it; development mode refuses a
 * production environment in one line. Uses the shared MariaDB with a database and a user of its own, both
 * dropped afterwards. Requires `npm run build` first (npm test does it).
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { MYSQL_ROOT } from '../helpers/harness';

const MAIN = path.resolve(__dirname, '../../dist/src/main.js');
const run = crypto.randomBytes(4).toString('hex');
const DB = `postern_first_${run}`;
const USER = `pf_${run}`;
const PASSWORD = crypto.randomBytes(12).toString('hex');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-first-'));
let root: Knex;

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'ADMIN_API_KEY', 'ENCRYPTION_KEY', 'ROLE', 'POSTERN_TEST_DB', 'NODE_ENV', 'POSTERN_DEV']) delete env[k];
  return { ...env, DATA_DIR: dataDir, ...extra };
}

function migrate(databaseUrl: string) {
  return spawnSync(process.execPath, [MAIN, 'migrate'], {
    env: cleanEnv({ DATABASE_URL: databaseUrl, ENCRYPTION_KEY: 'ab'.repeat(32) }),
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const host = new URL(MYSQL_ROOT);
const asUser = `mysql://${USER}:${PASSWORD}@${host.host}/${DB}`;

beforeAll(() => {
  root = knexFactory({ client: 'mysql2', connection: MYSQL_ROOT });
});
afterAll(async () => {
  await root.raw(`DROP DATABASE IF EXISTS \`${DB}\``);
  await root.raw(`DROP USER IF EXISTS '${USER}'@'%'`);
  await root.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('postern migrate on a server without the database', () => {
  it('prints one line naming the CREATE DATABASE and GRANT to run when the account may not create it, and those statements work', async () => {
    await root.raw(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
    const r = migrate(asUser);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^postern: database not ready: .+\n$/);
    expect(r.stderr.split('\n')).toHaveLength(2); // one line, no stack trace
    expect(r.stderr).not.toContain(PASSWORD);
    const advice = /As a MySQL administrator run: (.*)$/m.exec(r.stderr)![1];
    expect(advice).toBe(
      `CREATE DATABASE IF NOT EXISTS \`${DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; GRANT ALL PRIVILEGES ON \`${DB}\`.* TO '${USER}'@'%';`,
    );

    for (const statement of advice
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean))
      await root.raw(statement);
    const again = migrate(asUser);
    expect({ status: again.status, stderr: again.stderr }).toEqual({ status: 0, stderr: '' });
    expect(again.stdout).toContain('migrations applied');
    const [tables] = await root.raw(`SHOW TABLES FROM \`${DB}\``);
    expect(tables.length).toBeGreaterThan(10);
  });

  it('creates the database when the account may, then migrates', async () => {
    await root.raw(`DROP DATABASE \`${DB}\``);
    const r = migrate(`${MYSQL_ROOT}/${DB}`);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ level: 'info', message: 'database created', database: DB });
    const [[created]] = await root.raw('SELECT DEFAULT_CHARACTER_SET_NAME AS charset FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [DB]);
    expect(created.charset).toBe('utf8mb4');
    expect(await root.schema.withSchema(DB).hasTable('captured_messages')).toBe(true);
  });
});

describe('first start', () => {
  it('prints the admin credentials once, naming the role that printed them (here the worker)', async () => {
    const child = spawn(process.execPath, [MAIN, 'worker'], { env: cleanEnv({ OPS_PORT: '0', HOST: '127.0.0.1' }) });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (!out.includes('worker running')) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`worker did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/^ {2}Postern \(role worker\) created its admin credentials\. They are shown only this once: store them now\.$/m);
    expect(out).toMatch(/^ {4}AdminAPIKey: {5}pa_[A-Za-z0-9]{40}$/m);
  });

  it('refuses development mode in production in one line', () => {
    const r = spawnSync(process.execPath, [MAIN], { env: cleanEnv({ POSTERN_DEV: '1', NODE_ENV: 'production' }), encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'postern: invalid configuration: POSTERN_DEV=1 verifies test domains without DNS and cannot run with NODE_ENV=production (a production deployment)\n',
    );
  });
});
