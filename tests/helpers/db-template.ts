/**
 * Migrate once per jest worker instead of once per test file (MariaDB paid 1.2–1.5 s of migrations per file).
 *
 * The first harness in a worker migrates a scratch database (or SQLite file) and keeps the result on disk, named
 * for the worker's pid and a fingerprint of migrations/: for MariaDB a schema-and-seed SQL dump, for SQLite the
 * migrated file itself. Every harness after that still gets its own fresh database, made from the dump in one
 * round trip (or by copying the file). Jest gives each test file a fresh module registry, so the cache is the
 * file, not a variable. Files left by workers that have exited are removed when a new one is written.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type mysql from 'mysql2/promise';
import { closeDb, migrateLatest, openDb } from '../../src/db';

const CACHE_DIR = path.join(os.tmpdir(), 'postern-test-schema');
const MIGRATIONS = path.resolve(__dirname, '../../migrations');

/** The fingerprint as this test file first read it: taking and releasing a database asked for it five times a file. */
let fingerprinted: string | null = null;

function fingerprint(): string {
  return (fingerprinted ??= readFingerprint());
}

function readFingerprint(): string {
  const h = crypto.createHash('sha256');
  for (const f of fs.readdirSync(MIGRATIONS).sort())
    h.update(f)
      .update('\0')
      .update(fs.readFileSync(path.join(MIGRATIONS, f)))
      .update('\0');
  return h.digest('hex').slice(0, 12);
}

export function cacheFile(ext: string): string {
  return path.join(CACHE_DIR, `${fingerprint()}-${process.pid}.${ext}`);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes atomically (a crash mid-write leaves no half file to reuse) and sweeps files of exited workers. */
export function store(file: string, write: (tmp: string) => void): void {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  for (const f of fs.readdirSync(CACHE_DIR)) {
    const pid = Number(/-(\d+)\./.exec(f)?.[1]);
    if (pid && !alive(pid)) fs.rmSync(path.join(CACHE_DIR, f), { force: true });
  }
  const tmp = `${file}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  write(tmp);
  fs.renameSync(tmp, file);
}

export async function rootConnection(mysqlRoot: string): Promise<mysql.Connection> {
  const u = new URL(mysqlRoot);
  // Loaded here, not at the top: an embedded-store test file never needs it (src/lazy.ts says why that counts).
  const { createConnection } = await import('mysql2/promise');
  return createConnection({
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    multipleStatements: true,
    dateStrings: true,
  });
}

/**
 * Ends a root connection without it holding the process: mysql2's end() sends QUIT, then keeps the socket (ref'd) until
 * the server closes it. A busy shared MariaDB took over 2.5 s to close the one a file's last releaseDatabase opened
 * (seen in-band at load 10-15), and a jest worker whose last file that was waited for it past jest's 2 s grace: "A worker
 * process has failed to exit gracefully ... force exited". The QUIT is sent; the socket closes when the server says so.
 */
export async function endRoot(c: mysql.Connection): Promise<void> {
  await c.end();
  (c as unknown as { connection: { stream?: { unref(): void } } }).connection.stream?.unref();
}

/** Migrates a scratch database and returns its tables and its seed rows as SQL, then drops it. */
async function dumpMigratedSchema(mysqlRoot: string): Promise<{ schema: string; seeds: string }> {
  const scratch = `postern_tpl_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const c = await rootConnection(mysqlRoot);
  try {
    await c.query(`CREATE DATABASE \`${scratch}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    const db = openDb({ databaseUrl: `${mysqlRoot}/${scratch}`, dataDir: os.tmpdir() });
    try {
      await migrateLatest(db);
    } finally {
      await closeDb(db);
    }
    const [tables] = await c.query<mysql.RowDataPacket[]>(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
      [scratch],
    );
    const ddls: string[] = [];
    const seeds: string[] = [];
    for (const { name } of tables) {
      const [[ddl]] = await c.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${scratch}\`.\`${name}\``);
      ddls.push(String(ddl['Create Table']).replace(/ AUTO_INCREMENT=\d+/, ''));
      const [rows] = await c.query<mysql.RowDataPacket[]>({ sql: `SELECT * FROM \`${scratch}\`.\`${name}\``, rowsAsArray: true });
      if (rows.length) seeds.push(c.format('INSERT INTO ?? VALUES ?', [name, rows]));
    }
    return { schema: ddls.join(';\n'), seeds: seeds.join(';\n') };
  } finally {
    await c.query(`DROP DATABASE IF EXISTS \`${scratch}\``).catch(() => undefined);
    await endRoot(c);
  }
}

/** Creates `dbName` on the server at `mysqlRoot` with every migration applied, as migrateLatest would leave it. */
export async function createMigratedDatabase(mysqlRoot: string, dbName: string): Promise<void> {
  const { schema, seeds } = await migratedSql(mysqlRoot);
  const c = await rootConnection(mysqlRoot);
  try {
    const create = `CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`;
    await c.query([create, `USE \`${dbName}\``, 'SET FOREIGN_KEY_CHECKS = 0', schema, seeds, 'SET FOREIGN_KEY_CHECKS = 1'].filter(Boolean).join(';\n'));
  } finally {
    await endRoot(c);
  }
}

/** This worker's dump of a migrated database: its tables, and its seed rows (which the pool puts back). */
export async function migratedSql(mysqlRoot: string): Promise<{ schema: string; seeds: string }> {
  const [schemaFile, seedFile] = [cacheFile('sql'), cacheFile('seeds.sql')];
  if (!fs.existsSync(schemaFile) || !fs.existsSync(seedFile)) {
    const dump = await dumpMigratedSchema(mysqlRoot);
    store(seedFile, (tmp) => fs.writeFileSync(tmp, dump.seeds));
    store(schemaFile, (tmp) => fs.writeFileSync(tmp, dump.schema));
  }
  return { schema: fs.readFileSync(schemaFile, 'utf8'), seeds: fs.readFileSync(seedFile, 'utf8') };
}

/** Puts a migrated postern.sqlite into `dataDir` (a copy of this worker's migrated file). */
export async function seedMigratedSqlite(dataDir: string): Promise<void> {
  const file = cacheFile('sqlite');
  if (!fs.existsSync(file)) {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-tpl-'));
    try {
      const db = openDb({ databaseUrl: null, dataDir: scratch });
      try {
        await migrateLatest(db);
      } finally {
        await closeDb(db); // the last close checkpoints the WAL into the file
      }
      store(file, (tmp) => fs.copyFileSync(path.join(scratch, 'postern.sqlite'), tmp));
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  fs.copyFileSync(file, path.join(dataDir, 'postern.sqlite'));
}
