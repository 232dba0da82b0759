import type { Db } from '../db';
import { isUniqueViolation } from '../db';
import type { Config } from '../config';
import type { PasswordGate } from './password-gate';
import { hashPassword, randomString, randomToken, safeEqual, sha256hex } from './secrets';

const ADMIN_KEY_SETTING = 'admin_api_key_sha256';
/** The hash of the ADMIN_API_KEY the install last started with. */
const ENV_KEY_SETTING = 'admin_env_api_key_sha256';

/** First-start credentials; returned only to the process that created them, which prints them once. */
export interface CreatedAdminCredentials {
  username: string;
  password: string;
  adminApiKey: string | null;
}

/**
 * Makes sure the admin account and the admin API key exist. Safe when several processes start at once:
 * only the one whose insert wins learns (and prints) the generated secrets.
 */
export async function ensureAdmin(db: Db, config: Config): Promise<CreatedAdminCredentials | null> {
  let password: string | null = null;
  if (!(await db('admins').first('id'))) {
    const pw = randomToken(18);
    try {
      await db('admins').insert({
        username: 'admin',
        email_address: '',
        password_hash: await hashPassword(pw, config.passwordHashCost),
        created_at: Date.now(),
      });
      password = pw;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
  // Several processes starting at once may both find the key replaced: the loser's insert is the winner's.
  await endSessionsOfReplacedEnvKey(db, config).catch((err) => {
    if (!isUniqueViolation(err)) throw err;
  });
  let adminApiKey: string | null = null;
  if (!config.adminApiKey && !(await db('settings').where({ name: ADMIN_KEY_SETTING }).first())) {
    const key = newAdminKey();
    try {
      await db('settings').insert({ name: ADMIN_KEY_SETTING, value: sha256hex(key) });
      adminApiKey = key;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
  if (password === null && adminApiKey === null) return null;
  return { username: 'admin', password: password ?? '(unchanged)', adminApiKey };
}

function newAdminKey(): string {
  return `pa_${randomString(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789')}`;
}

/**
 * Replaces the generated admin key (ADMIN_API_KEY unset); returns the new key, of which only the hash is kept. Every
 * admin session ends with the old key: one opened with it (admin.login AdminAPIKey=…) would otherwise keep its power.
 */
export async function resetAdminApiKey(db: Db): Promise<string> {
  const key = newAdminKey();
  const value = sha256hex(key);
  await db.transaction(async (trx) => {
    const updated = await trx('settings').where({ name: ADMIN_KEY_SETTING }).update({ value });
    if (!updated) await trx('settings').insert({ name: ADMIN_KEY_SETTING, value });
    await trx('sessions').where({ kind: 'admin' }).delete();
  });
  return key;
}

/**
 * ADMIN_API_KEY changed since the last start (its hash is kept to tell): the admin sessions end, as on a reset, so a
 * session opened with the replaced key does not outlive it.
 */
async function endSessionsOfReplacedEnvKey(db: Db, config: Config): Promise<void> {
  if (!config.adminApiKey) return;
  const value = sha256hex(config.adminApiKey);
  const row = await db('settings').where({ name: ENV_KEY_SETTING }).first('value');
  if (row && String(row.value) === value) return;
  await db.transaction(async (trx) => {
    await trx('sessions').where({ kind: 'admin' }).delete();
    const updated = await trx('settings').where({ name: ENV_KEY_SETTING }).update({ value });
    if (!updated) await trx('settings').insert({ name: ENV_KEY_SETTING, value });
  });
}

/** A new password for the admin account, returned once (only its scrypt hash is kept); its sessions end. */
export async function resetAdminPassword(db: Db, hashCost?: number): Promise<{ username: string; password: string }> {
  const password = randomToken(18);
  // At PASSWORD_HASH_COST: at the default, the first login after a reset would hash it again (src/auth/rehash.ts).
  const hash = await hashPassword(password, hashCost);
  return db.transaction(async (trx) => {
    const admin = await trx('admins').orderBy('id').first('id', 'username');
    if (!admin) {
      // Every start makes the account, so this is only a database whose admin row was removed by hand.
      await trx('admins').insert({ username: 'admin', email_address: '', password_hash: hash, created_at: Date.now() });
      return { username: 'admin', password };
    }
    await trx('admins').where({ id: admin.id }).update({ password_hash: hash });
    await trx('sessions').where({ kind: 'admin', subject_id: admin.id }).delete();
    return { username: admin.username as string, password };
  });
}

/** ADMIN_API_KEY from the environment wins; otherwise the key generated at first start. */
export async function isAdminApiKey(db: Db, config: Config, presented: string): Promise<boolean> {
  if (!presented) return false;
  if (config.adminApiKey) return safeEqual(presented, config.adminApiKey);
  const row = await db('settings').where({ name: ADMIN_KEY_SETTING }).first();
  return !!row && safeEqual(sha256hex(presented), String(row.value));
}

/** The admin a login name names, without regard to case (admin.login reads it before its failed-login check). */
export async function findAdminByName(db: Db, username: string): Promise<{ id: number; password_hash: string } | undefined> {
  return db('admins').whereRaw('lower(username) = ?', [username.toLowerCase()]).first('id', 'password_hash');
}

/** The admin's id when `password` is theirs; `row` is findAdminByName's answer. Checks go through the process's gate. */
export async function checkAdminPassword(
  gate: PasswordGate,
  row: { id: number; password_hash: string } | undefined,
  password: string,
  hashCost: number,
): Promise<number | null> {
  if (!row) {
    await gate.burn(password, hashCost); // same cost as a real check, so timing does not reveal admin names
    return null;
  }
  // A miss is padded to the burn's cost: a hash older than a raised PASSWORD_HASH_COST checks faster (padCosts).
  return (await gate.verify(password, row.password_hash, hashCost)) ? Number(row.id) : null;
}
