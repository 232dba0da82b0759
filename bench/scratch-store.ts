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

/**
 * A database bench's run: `title` first, then `benchStore` on each store BENCH_STORES names (mariadb,sqlite), and
 * one `BENCH {json}` line with every figure and the load. A failure sets the exit code.
 */
export function benchEachStore(title: string, benchStore: (store: string) => Promise<Record<string, number>>): void {
  const stores = (process.env.BENCH_STORES ?? 'mariadb,sqlite').split(',');
  (async () => {
    console.log(`# ${title} (node ${process.version})`);
    let figures: Record<string, number> = {};
    for (const store of stores) figures = { ...figures, ...(await benchStore(store)) };
    console.log(`BENCH ${JSON.stringify({ ...figures, load1: Number(os.loadavg()[0].toFixed(2)) })}`);
  })().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

/**
 * A bench's sender on a scratch store: user `id` with sender domain `id` (`bench<id>.test`), written directly, and,
 * with `subject`, one message of theirs that seeded deliveries can belong to (its id is returned).
 */
export async function seedSender(db: Knex, id: number, now: number, subject?: string): Promise<string | null> {
  await db('users').insert({
    id,
    group_id: 1,
    username: `bench${id}`,
    email_address: `bench${id}@bench.test`,
    password_hash: 'x',
    created_at: now,
    updated_at: now,
  });
  await db('sender_domains').insert({
    id,
    user_id: id,
    domain: `bench${id}.test`,
    dkim_selector: 's',
    dkim_private_key_enc: 'x',
    dkim_public_key: 'x',
    dns_records: '[]',
    created_at: now,
    updated_at: now,
  });
  if (subject === undefined) return null;
  const messageId = crypto.randomUUID();
  await db('messages').insert({
    id: messageId,
    user_id: id,
    domain_id: id,
    source: 'api',
    from_email: `app@bench${id}.test`,
    subject,
    tags: '[]',
    message_id_header: `<${messageId}@bench${id}.test>`,
    mime: Buffer.from('Subject: x\r\n\r\ny\r\n'),
    mime_size: 17,
    created_at: now,
  });
  return messageId;
}
