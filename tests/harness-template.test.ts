/**
 * The harness makes each test file's database from a migrated template kept per jest worker
 * (tests/helpers/db-template.ts). That database must be exactly what running the migrations gives: tables,
 * columns, indexes, keys, triggers, views, routines, seed rows and auto-increment counters, on this backend. On
 * MariaDB a closed harness's database is emptied and reused by the next file in the worker
 * (tests/helpers/db-pool.ts): it must then be the same again.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import type { Db } from '../src/db';
import { closeDb, isMysql, migrateLatest, openDb } from '../src/db';
import { backend, Harness, MYSQL_ROOT, senderSetup, startHarness } from './helpers/harness';

/** Everything about a database that migrations decide; times of day (…_at, …_time) left out. */
async function shape(db: Db): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const rowsOf = async (table: string) =>
    ((await db(table).select()) as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !/_(at|time)$/.test(k))));
  if (isMysql(db)) {
    const [[{ name }]] = await db.raw('SELECT DATABASE() AS name');
    const [tables] = await db.raw(
      'SELECT TABLE_NAME AS t, TABLE_TYPE AS type, AUTO_INCREMENT AS counter FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
      [name],
    );
    for (const { t, type, counter } of tables) {
      const [[ddl]] = await db.raw('SHOW CREATE TABLE ??', [t]);
      out[t] = {
        type,
        ddl: String(ddl['Create Table'] ?? ddl['Create View']).replace(/ AUTO_INCREMENT=\d+/, ''),
        rows: type === 'BASE TABLE' ? await rowsOf(t) : null,
        counter,
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

/** A database migrated the ordinary way, and how to remove it. */
async function freshDatabase(): Promise<{ db: Db; cleanup(): Promise<void> }> {
  if (backend() === 'mysql') {
    const name = `postern_test_fresh_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
    const admin = knexFactory({ client: 'mysql2', connection: MYSQL_ROOT });
    await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    const db = openDb({ databaseUrl: `${MYSQL_ROOT}/${name}`, dataDir: os.tmpdir() });
    await migrateLatest(db);
    return {
      db,
      async cleanup() {
        await closeDb(db);
        await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
        await admin.destroy();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-fresh-'));
  const db = openDb({ databaseUrl: null, dataDir: dir });
  await migrateLatest(db);
  return {
    db,
    async cleanup() {
      await closeDb(db);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The harness adds its admin account on top of the migrations: the admins table's rows (and counter) are its own,
// and so is the settings row that remembers which ADMIN_API_KEY it started with (src/auth/admin.ts).
const withoutAdminRows = (s: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(s).map(([k, v]) => {
      if (k === 'admins' || k === 'table admins') return [k, { ...(v as object), rows: null, counter: null }];
      if (k === 'settings' || k === 'table settings') {
        const t = v as { rows?: { name: string }[] };
        return [k, { ...t, rows: t.rows?.filter((r) => r.name !== 'admin_env_api_key_sha256') }];
      }
      return [k, v];
    }),
  );

it('gives each test a database identical to a freshly migrated one, seed rows included', async () => {
  const fresh = await freshDatabase();
  try {
    const expected = await shape(fresh.db);
    const actual = await shape(h.services.db);
    expect(withoutAdminRows(actual)).toEqual(withoutAdminRows(expected));
    expect(Object.keys(expected).length).toBeGreaterThan(30);
  } finally {
    await fresh.cleanup();
  }
}, 60_000);

(backend() === 'mysql' ? it : it.skip)('hands a used MariaDB database back emptied, seeds and counters as fresh, for the next file', async () => {
  const used = await startHarness();
  const name = String(used.env.DATABASE_URL).split('/').pop()!;
  // Rows in many tables and counters moved: a user, a domain, a key, a list, a message with its delivery and events.
  const s = await senderSetup(used);
  await used.call({ Command: 'list.create', SessionID: s.sessionId, SubscriberListName: 'L', SenderEmailAddress: `a@${s.domain}` });
  await used.call({ Command: 'emailgateway.adddomain', SessionID: s.sessionId, DomainName: `second.${s.domain}` });
  await used.services.db('user_groups').insert({ name: 'Extra', permissions: '*' });
  await used.close();

  const fresh = await freshDatabase();
  const released = openDb({ databaseUrl: `${MYSQL_ROOT}/${name}`, dataDir: os.tmpdir() });
  try {
    const expected = await shape(fresh.db);
    expect(withoutAdminRows(await shape(released))).toEqual(withoutAdminRows(expected));
    // Emptied, not just equal by accident: the admin the harness had added is gone too.
    expect(Number((await released('admins').count({ n: '*' }))[0].n)).toBe(0);
  } finally {
    await closeDb(released);
    await fresh.cleanup();
  }
});
