import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { UsageError } from './usage-error';

/** Raised when there is nothing to back up where the configuration points (exit code 3, as an installation not opened). */
export class NoInstallationError extends Error {}

export const MYSQL_BACKUP = 'postern backup copies the embedded database; back up MySQL/MariaDB with mariadb-dump --single-transaction (docs/operations.md)';

/** What DATA_DIR holds besides the database, copied beside it when present: the snapshot is useless without its key. */
const SECRETS = ['encryption.key', 'smtp-selfsigned.key', 'smtp-selfsigned.crt'];

export interface BackupResult {
  Backup: string;
  Files: { Name: string; Bytes: number }[];
  IntegrityCheck: string;
  /** Set when the backup holds no key its DKIM keys can be read with: a restore needs ENCRYPTION_KEY from elsewhere. */
  Warning?: string;
}

/**
 * `postern backup <dir>`: a consistent copy of the embedded installation, safe while it runs. `VACUUM INTO` reads the
 * database in one read transaction (WAL: the gateway's writers go on meanwhile) and writes a compact copy; SQLite's
 * online backup API (better-sqlite3's backup()) would restart its page copy at every write from another process, so a
 * busy gateway could keep it from ever finishing. The secrets DATA_DIR holds are copied beside it. Everything is
 * written into a new 0700 directory beside the target and renamed into place at the end: a failure leaves no
 * half-backup (a database without its key), and nobody else can plant a file or symlink inside it meanwhile.
 */
export async function backupEmbedded(config: Pick<Config, 'databaseUrl' | 'dataDir' | 'encryptionKey'>, target: string): Promise<BackupResult> {
  if (config.databaseUrl) throw new UsageError(MYSQL_BACKUP);
  const dataDir = path.resolve(config.dataDir);
  const source = path.join(dataDir, 'postern.sqlite');
  if (!fs.existsSync(source)) throw new NoInstallationError(`no embedded database at ${source} (is DATA_DIR set as for the gateway?)`);
  const dir = path.resolve(target);
  const inside = path.relative(dataDir, dir);
  const outside = inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside);
  if (!outside) throw new UsageError('the backup directory must be outside DATA_DIR');
  if (fs.existsSync(dir)) throw new UsageError(`${dir} exists: name a new directory`);
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  const work = path.join(path.dirname(dir), `.${path.basename(dir)}.partial-${crypto.randomBytes(6).toString('hex')}`);
  fs.mkdirSync(work, { mode: 0o700 });
  try {
    const integrity = await snapshot(source, path.join(work, 'postern.sqlite'));
    for (const name of SECRETS) {
      const from = path.join(dataDir, name);
      if (!fs.existsSync(from)) continue;
      fs.copyFileSync(from, path.join(work, name), fs.constants.COPYFILE_EXCL);
      fs.chmodSync(path.join(work, name), 0o600);
    }
    fs.chmodSync(work, 0o700);
    // Refused if the name was taken meanwhile by anything but an empty directory.
    fs.renameSync(work, dir);
    const names = fs.readdirSync(dir).sort();
    const warning = config.encryptionKey
      ? 'ENCRYPTION_KEY is set in this environment: the DKIM keys are encrypted with it, not with any encryption.key copied, and a restore needs it'
      : names.includes('encryption.key')
        ? undefined
        : 'DATA_DIR holds no encryption.key: the DKIM keys are encrypted with an ENCRYPTION_KEY set elsewhere (the gateway’s environment), which a restore needs';
    return {
      Backup: dir,
      Files: names.map((Name) => ({ Name, Bytes: fs.statSync(path.join(dir, Name)).size })),
      IntegrityCheck: integrity,
      ...(warning ? { Warning: warning } : {}),
    };
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

/** The copy, checked with SQLite's quick_check. The live database is opened read-only: closing it writes nothing. */
async function snapshot(source: string, copy: string): Promise<string> {
  // Loaded here: every other CLI command and role reaches SQLite through knex.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    db.prepare('vacuum into ?').run(copy);
  } finally {
    db.close();
  }
  fs.chmodSync(copy, 0o600);
  const check = new Database(copy, { readonly: true, fileMustExist: true });
  try {
    const integrity = String(check.pragma('quick_check', { simple: true }));
    if (integrity !== 'ok') throw new Error(`the copy failed SQLite's quick_check: ${integrity}`);
    return integrity;
  } finally {
    check.close();
  }
}
