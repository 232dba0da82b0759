import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { migrateLatest, openDb } from '../src/db';
import { BENCH_MYSQL } from './in-process';

/**
 * Runs `fn` on a throw-away, migrated store for a database bench: a MariaDB database `postern_bench_<name>_<random>`
 * (`store` 'mariadb', no statement timeout: a bench times its reads, it does not cut them short) or an embedded SQLite
 * file in a temporary directory (any other `store`). Both are removed afterwards, whatever `fn` did.
 */
export async function withScratchStore<T>(store: string, name: string, fn: (db: Knex) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `postern-bench-${name}-`));
  const dbName = `postern_bench_${name}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = store === 'mariadb' ? knexFactory({ client: 'mysql2', connection: BENCH_MYSQL }) : null;
  try {
    if (admin) await admin.raw(`CREATE DATABASE \`${dbName}\``);
    const db = openDb(admin ? { databaseUrl: `${BENCH_MYSQL}/${dbName}`, dataDir: dir, dbQueryTimeoutMs: 0 } : { databaseUrl: '', dataDir: dir });
    try {
      await migrateLatest(db);
      return await fn(db);
    } finally {
      await db.destroy();
    }
  } finally {
    if (admin) {
      await admin.raw(`DROP DATABASE IF EXISTS \`${dbName}\``);
      await admin.destroy();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
