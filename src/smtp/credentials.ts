import type { Db } from '../db';
import type { Store } from '../store/store';
import type { CachedSmtpIdentity } from '../store/credential-caches';
import { safeEqual, sha256hex } from '../auth/secrets';

export type SmtpIdentity = CachedSmtpIdentity;

/*
 * Verified identities are kept in the store's credential caches for SENDER_AUTH_CACHE_MS (as sender keys are),
 * so a client that opens a connection and AUTHs for every message costs no queries and no write for each one.
 * Keyed by a hash of username and password together: only the same correct pair finds an entry. Failures are
 * never kept.
 */

/** The account and domain behind SMTP credentials from emailgateway.addsmtp, or null. */
export async function checkSmtpCredentials(store: Store, username: string, password: string): Promise<SmtpIdentity | null> {
  const verified = store.credentials.smtpIdentities;
  const cacheKey = `auth:${sha256hex(`${username.trim().toLowerCase()}\u0000${password}`)}`;
  const hit = verified.get(cacheKey);
  if (hit) return hit;
  const who = await lookUpCredentials(store.db, username, password);
  if (who) verified.set(cacheKey, who);
  return who;
}

async function lookUpCredentials(db: Db, username: string, password: string): Promise<SmtpIdentity | null> {
  // Usernames are issued in lower case; matched without regard to case on both databases (MySQL's collation
  // already ignores it, SQLite's does not).
  const row = await db('smtp_credentials').where({ username: username.trim().toLowerCase() }).first();
  // Compare hashes in constant time; an unknown username costs the same hashing.
  const presented = sha256hex(password);
  if (!row || !safeEqual(presented, String(row.password_hash)) || row.status !== 'Enabled') return null;
  const [user, domain] = await Promise.all([
    db('users').where({ id: row.user_id }).first(),
    db('sender_domains').where({ id: row.domain_id, user_id: row.user_id }).first(),
  ]);
  if (!user || !domain) return null;
  await db('smtp_credentials').where({ id: row.id }).update({ last_used_at: Date.now() });
  return { smtpId: Number(row.id), user, domain };
}

/** The identity of a credential by username alone, for SMTP_TRUSTED_CLIENTS (the address is the proof). */
export async function smtpIdentityByUsername(store: Store, username: string): Promise<SmtpIdentity | null> {
  const { db } = store;
  const verified = store.credentials.smtpIdentities;
  const cacheKey = `trusted:${username}`;
  const hit = verified.get(cacheKey);
  if (hit) return hit;
  const row = await db('smtp_credentials').where({ username, status: 'Enabled' }).first();
  if (!row) return null;
  const [user, domain] = await Promise.all([
    db('users').where({ id: row.user_id }).first(),
    db('sender_domains').where({ id: row.domain_id, user_id: row.user_id }).first(),
  ]);
  const who = user && domain ? { smtpId: Number(row.id), user, domain } : null;
  if (who) verified.set(cacheKey, who);
  return who;
}
