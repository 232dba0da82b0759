/**
 * MariaDB databases for harnesses, reused within a jest worker. Creating one from the migrated dump (42 tables)
 * and dropping it took about 0.9 s + 0.4–0.6 s per test file, nearly all of it InnoDB creating and removing table
 * files; emptying a used one takes about 20 ms plus ~20 ms per auto-increment counter to rewind.
 *
 * On close a harness hands its database back: if no connection still uses it and its schema is the one the dump
 * gives (columns, indexes, keys, triggers, routines, views), every table is emptied, the seed rows are put back and
 * each auto-increment counter is rewound to the dump's, so the next file in this worker gets what a fresh copy of
 * the dump would be (tests/harness-template.test.ts checks it). Anything else (a test that changed the schema, a
 * child process still connected, an error) drops it as before. Free databases are files in $TMPDIR named for the
 * worker's pid; jest's globalTeardown (tests/helpers/db-pool-sweep.js) drops those of workers that have exited.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type mysql from 'mysql2/promise';
import { cacheFile, createMigratedDatabase, endRoot, migratedSql, rootConnection, store } from './db-template';

const POOL_DIR = path.join(os.tmpdir(), 'postern-test-pool');
/** Databases the pool made start with this; the sweep drops the ones whose pid (the next part) has exited. */
export const POOL_PREFIX = 'postern_test_pool_';

interface Shape {
  /** A digest of everything migrations decide about the schema. */
  schema: string;
  /** Each table's auto-increment counter as the dump leaves it. */
  counters: Record<string, number>;
}

/** The entry's name says whose it is; its content says for which server and dump it is clean. */
function entryTag(mysqlRoot: string): string {
  return `${path.basename(cacheFile('sql'))}\n${mysqlRoot}`;
}

/** A migrated database of this worker's, free for this harness: a clean used one, or a new one. */
export async function takeDatabase(mysqlRoot: string): Promise<string> {
  fs.mkdirSync(POOL_DIR, { recursive: true });
  const mine = `${process.pid}.`;
  for (const f of fs.readdirSync(POOL_DIR)) {
    if (!f.startsWith(mine)) continue;
    const file = path.join(POOL_DIR, f);
    try {
      if (fs.readFileSync(file, 'utf8') !== entryTag(mysqlRoot)) continue;
      fs.unlinkSync(file); // claimed: single-threaded, and no other process uses this pid's entries
      return f.slice(mine.length);
    } catch {
      continue;
    }
  }
  const name = `${POOL_PREFIX}${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await createMigratedDatabase(mysqlRoot, name);
  const shapeFile = cacheFile('shape.json');
  if (!fs.existsSync(shapeFile)) {
    // The clean shape, taken once per worker and dump, from a database just made from the dump.
    const c = await rootConnection(mysqlRoot);
    try {
      const shape = await shapeOf(c, name);
      store(shapeFile, (tmp) => fs.writeFileSync(tmp, JSON.stringify(shape)));
    } finally {
      await endRoot(c);
    }
  }
  return name;
}

async function shapeOf(c: mysql.Connection, db: string): Promise<Shape> {
  const part = (sql: string) => `(SELECT COALESCE(GROUP_CONCAT(${sql} SEPARATOR '|'), '')`;
  const [[row]] = await c.query<mysql.RowDataPacket[]>(
    `SELECT SHA2(CONCAT_WS('#',
      ${part("CONCAT_WS(',', TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, CREATE_OPTIONS) ORDER BY TABLE_NAME")} FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?),
      ${part("CONCAT_WS(',', TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '~'), EXTRA, IFNULL(COLLATION_NAME, '~'), IFNULL(GENERATION_EXPRESSION, '~')) ORDER BY TABLE_NAME, ORDINAL_POSITION")} FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?),
      ${part("CONCAT_WS(',', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, IFNULL(SUB_PART, '~'), INDEX_TYPE) ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX")} FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?),
      ${part("CONCAT_WS(',', TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, IFNULL(REFERENCED_TABLE_NAME, '~'), IFNULL(REFERENCED_COLUMN_NAME, '~')) ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION")} FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ?),
      ${part("CONCAT_WS(',', CONSTRAINT_NAME, UPDATE_RULE, DELETE_RULE) ORDER BY CONSTRAINT_NAME")} FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?),
      ${part("CONCAT_WS(',', TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE) ORDER BY TABLE_NAME, CONSTRAINT_NAME")} FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?),
      ${part("CONCAT_WS(',', TRIGGER_NAME, ACTION_STATEMENT) ORDER BY TRIGGER_NAME")} FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?),
      ${part("CONCAT_WS(',', ROUTINE_NAME, ROUTINE_DEFINITION) ORDER BY ROUTINE_NAME")} FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?),
      ${part("CONCAT_WS(',', TABLE_NAME, VIEW_DEFINITION) ORDER BY TABLE_NAME")} FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?)
    ), 256) AS schema_digest`,
    Array(9).fill(db),
  );
  return { schema: String(row.schema_digest), counters: await countersOf(c, db) };
}

async function countersOf(c: mysql.Connection, db: string): Promise<Record<string, number>> {
  const [rows] = await c.query<mysql.RowDataPacket[]>(
    'SELECT TABLE_NAME AS t, AUTO_INCREMENT AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND AUTO_INCREMENT IS NOT NULL',
    [db],
  );
  return Object.fromEntries(rows.map((r) => [String(r.t), Number(r.n)]));
}

/** Empties `db` back to the dump's state and frees it for the next harness in this worker, or drops it. */
export async function releaseDatabase(mysqlRoot: string, db: string): Promise<void> {
  const c = await rootConnection(mysqlRoot);
  try {
    // Whatever goes wrong, the database is not known to be clean: it is dropped.
    if (await reset(c, mysqlRoot, db).catch(() => false)) {
      fs.mkdirSync(POOL_DIR, { recursive: true });
      fs.writeFileSync(path.join(POOL_DIR, `${process.pid}.${db}`), entryTag(mysqlRoot));
    } else {
      await c.query(`DROP DATABASE IF EXISTS \`${db}\``);
    }
  } finally {
    await endRoot(c);
  }
}

async function reset(c: mysql.Connection, mysqlRoot: string, db: string): Promise<boolean> {
  const [[{ n }]] = await c.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()', [
    db,
  ]);
  if (Number(n) > 0) return false; // a child process or a leaked pool still works in it
  const shapeFile = cacheFile('shape.json');
  if (!fs.existsSync(shapeFile)) return false;
  const clean = JSON.parse(fs.readFileSync(shapeFile, 'utf8')) as Shape;
  const now = await shapeOf(c, db);
  if (now.schema !== clean.schema) return false;
  const [tables] = await c.query<mysql.RowDataPacket[]>(
    "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
    [db],
  );
  const { seeds } = await migratedSql(mysqlRoot);
  // One transaction: one log flush for the whole reset instead of one per table.
  await c.query(
    [
      `USE \`${db}\``,
      'SET FOREIGN_KEY_CHECKS = 0',
      'START TRANSACTION',
      ...tables.map(({ t }) => `DELETE FROM \`${String(t)}\``),
      seeds,
      'COMMIT',
      'SET FOREIGN_KEY_CHECKS = 1',
    ]
      .filter(Boolean)
      .join(';\n'),
  );
  // InnoDB keeps a counter past deleted rows; ALTER sets it back (to the dump's value, which is the highest id + 1).
  for (const [t, want] of Object.entries(clean.counters)) {
    if (now.counters[t] !== want) await c.query(`ALTER TABLE \`${db}\`.\`${t}\` AUTO_INCREMENT = ${Number(want)}`);
  }
  const after = await countersOf(c, db);
  return Object.entries(clean.counters).every(([t, want]) => after[t] === want) && Object.keys(after).length === Object.keys(clean.counters).length;
}
