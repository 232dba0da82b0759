import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { UsageError } from './installation';

/** Raised when there is nothing to back up where the configuration points (exit code 3, as an installation not opened). */
export class NoInstallationError extends Error {}

/** What DATA_DIR holds besides the database, copied beside it when present: the snapshot is useless without its key. */
const SECRETS = ['encryption.key', 'smtp-selfsigned.key', 'smtp-selfsigned.crt'];

export interface BackupResult {
  Backup: string;
  Files: { Name: string; Bytes: number }[];
  IntegrityCheck: string;
  /** Set when ENCRYPTION_KEY comes from the environment: the backup holds no key, and restoring needs that one. */
  Warning?: string;
}

/**
 * `postern backup <dir>`: a consistent copy of the embedded installation, safe while it runs. `VACUUM INTO` reads the
 * database in one read transaction (WAL: the gateway's writers go on meanwhile) and writes a compact copy; SQLite's
 * online backup API (better-sqlite3's backup()) would restart its page copy at every write from another process, so a
 * busy gateway could keep it from ever finishing. The secrets DATA_DIR holds are copied beside it. MySQL/MariaDB
 * installations are backed up with the database's own tools (docs/operations.md).
 */
export async function backupEmbedded(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'encryptionKey'>, target: string): Promise<BackupResult> {
  if (config.databaseUrl)
    throw new UsageError('postern backup copies the embedded database; back up MySQL/MariaDB with mariadb-dump --single-transaction (docs/operations.md)');
  const source = path.join(config.dataDir, 'postern.sqlite');
  if (!fs.existsSync(source)) throw new NoInstallationError(`no embedded database at ${source} (is DATA_DIR set as for the gateway?)`);
  const dir = path.resolve(target);
  if (dir === path.resolve(config.dataDir)) throw new UsageError('the backup directory must not be DATA_DIR itself');
  if (fs.existsSync(dir) && (!fs.statSync(dir).isDirectory() || fs.readdirSync(dir).length))
    throw new UsageError(`${dir} exists and is not an empty directory: name a new one`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // An empty directory that existed keeps its own mode otherwise: the copy and the key must never be readable by others.
  fs.chmodSync(dir, 0o700);

  // Loaded here: every other CLI command and role reaches SQLite through knex.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  const copy = path.join(dir, 'postern.sqlite');
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare('vacuum into ?').run(copy);
  } finally {
    db.close();
  }
  fs.chmodSync(copy, 0o600);
  const check = new Database(copy, { readonly: true, fileMustExist: true });
  let integrity: string;
  try {
    integrity = String(check.pragma('quick_check', { simple: true }));
  } finally {
    check.close();
  }
  if (integrity !== 'ok') throw new Error(`the copy failed SQLite's quick_check: ${integrity}`);

  for (const name of SECRETS) {
    const from = path.join(config.dataDir, name);
    if (!fs.existsSync(from)) continue;
    fs.copyFileSync(from, path.join(dir, name), fs.constants.COPYFILE_EXCL);
    fs.chmodSync(path.join(dir, name), 0o600);
  }
  const names = fs.readdirSync(dir).sort();
  return {
    Backup: dir,
    Files: names.map((Name) => ({ Name, Bytes: fs.statSync(path.join(dir, Name)).size })),
    IntegrityCheck: integrity,
    ...(config.encryptionKey ? { Warning: 'ENCRYPTION_KEY is set in the environment: it is not in the backup, and a restore needs it' } : {}),
  };
}
