/**
 * The harness makes each test file's database from a migrated template kept per jest worker
 * (tests/helpers/db-template.ts). That database must be exactly what running the migrations gives: tables,
 * columns, indexes, keys, triggers, views, routines and seed rows, on this backend.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import type { Db } from '../src/db';
import { closeDb, isMysql, migrateLatest, openDb } from '../src/db';
import { Harness, MYSQL_ROOT, startHarness } from './helpers/harness';

/** Everything about a database that migrations decide; times of day (…_at, …_time) left out. */
async function shape(db: Db): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const rowsOf = async (table: string) =>
    ((await db(table).select()) as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !/_(at|time)$/.test(k))));
  if (isMysql(db)) {
    const [[{ name }]] = await db.raw('SELECT DATABASE() AS name');
    const [tables] = await db.raw('SELECT TABLE_NAME AS t, TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [
      name,
    ]);
    for (const { t, type } of tables) {
      const [[ddl]] = await db.raw('SHOW CREATE TABLE ??', [t]);
      out[t] = {
        type,
        ddl: String(ddl['Create Table'] ?? ddl['Create View']).replace(/ AUTO_INCREMENT=\d+/, ''),
        rows: type === 'BASE TABLE' ? await rowsOf(t) : null,
      };
    }
    const [triggers] = await db.raw('SELECT TRIGGER_NAME AS n, ACTION_STATEMENT AS s FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY n', [
      name,
    ]);
    const [routines] = await db.raw('SELECT ROUTINE_NAME AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY n', [name]);
    out['(triggers)'] = triggers;
    out['(routines)'] = routines;
  } else {
    const objects = await db.raw("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name");
    for (const o of objects) out[`${o.type} ${o.name}`] = { sql: o.sql, rows: o.type === 'table' ? await rowsOf(o.name) : null };
  }
  return out;
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

it('gives each test a database identical to a freshly migrated one, seed rows included', async () => {
  let fresh: Db;
  let cleanup: () => Promise<void>;
  if (h.backend === 'mysql') {
    const name = `postern_test_fresh_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
    const admin = knexFactory({ client: 'mysql2', connection: MYSQL_ROOT });
    await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    fresh = openDb({ databaseUrl: `${MYSQL_ROOT}/${name}`, dataDir: os.tmpdir() });
    cleanup = async () => {
      await closeDb(fresh);
      await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.destroy();
    };
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-fresh-'));
    fresh = openDb({ databaseUrl: null, dataDir: dir });
    cleanup = async () => {
      await closeDb(fresh);
      fs.rmSync(dir, { recursive: true, force: true });
    };
  }
  try {
    await migrateLatest(fresh);
    const expected = await shape(fresh);
    const actual = await shape(h.services.db);
    // The harness adds its admin account on top of the migrations: the admins table's rows are its own.
    const withoutAdminRows = (s: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'admins' || k === 'table admins' ? { ...(v as object), rows: null } : v]));
    expect(withoutAdminRows(actual)).toEqual(withoutAdminRows(expected));
    expect(Object.keys(expected).length).toBeGreaterThan(30);
  } finally {
    await cleanup();
  }
});
