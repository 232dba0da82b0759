import type * as Mysql from 'mysql2/promise';
import { lazy } from './lazy';

// Only with DATABASE_URL (src/lazy.ts): the embedded default's roles and CLI commands import this file for
// DatabaseSetupError and never load mysql2's ~90 files.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, typed by the import type above
const mysql = lazy(() => require('mysql2/promise') as typeof Mysql);

/** The database cannot be used and this account cannot fix it: the message is one line saying what to run. */
export class DatabaseSetupError extends Error {}

const DENIED = new Set(['ER_DBACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR', 'ER_TABLEACCESS_DENIED_ERROR']);

function code(err: unknown): string {
  return String((err as { code?: string }).code ?? '');
}

/** `'user'@'host'` as the server names the account (CURRENT_USER() answers `user@host`). */
function quoteAccount(account: string): string {
  const at = account.lastIndexOf('@');
  const [user, host] = at < 0 ? [account, '%'] : [account.slice(0, at), account.slice(at + 1)];
  return `'${user.replace(/'/g, "''")}'@'${host.replace(/'/g, "''")}'`;
}

/**
 * Before the first migration on MySQL/MariaDB: connects with mysql2 directly (a knex pool would print its
 * driver's stack trace on every failed attempt). A missing database is created when the account may; when it
 * may not, or may not use an existing one, DatabaseSetupError names the statements an administrator runs.
 */
export async function ensureDatabase(databaseUrl: string): Promise<'exists' | 'created'> {
  const u = new URL(databaseUrl);
  const server = {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    connectTimeout: 10_000,
  };
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!name) throw new DatabaseSetupError('DATABASE_URL names no database: add it as the path, e.g. mysql://postern:secret@db:3306/postern');
  const use = async () => (await mysql().createConnection({ ...server, database: name })).end();
  try {
    await use();
    return 'exists';
  } catch (err) {
    if (code(err) !== 'ER_BAD_DB_ERROR' && !DENIED.has(code(err))) throw err;
  }
  const conn = await mysql().createConnection(server);
  try {
    const [rows] = await conn.query('SELECT CURRENT_USER() AS account');
    const account = quoteAccount(String((rows as { account: string }[])[0]?.account ?? server.user));
    const db = '`' + name.replace(/`/g, '``') + '`';
    const advice = `As a MySQL administrator run: CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; GRANT ALL PRIVILEGES ON ${db}.* TO ${account};`;
    try {
      await conn.query(`CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    } catch (err) {
      if (!DENIED.has(code(err))) throw err;
      throw new DatabaseSetupError(`database ${db} is missing or ${account} may not use it, and ${account} may not create it. ${advice}`);
    }
    try {
      await use();
    } catch (err) {
      if (!DENIED.has(code(err))) throw err;
      throw new DatabaseSetupError(`database ${db} exists but ${account} may not use it. ${advice}`);
    }
    return 'created';
  } finally {
    await conn.end().catch(() => undefined);
  }
}
