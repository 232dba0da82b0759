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

/**
 * What an SMTP session keeps of its AUTH, to check it again at every transaction (src/smtp/front.ts): the username
 * and the password's SHA-256, which is what is stored for it, never the password itself.
 */
export interface SmtpProof {
  username: string;
  presented: string;
  /** Its key in the verified-identity cache, made once: the proof is checked at every MAIL FROM. */
  cacheKey: string;
}

export function smtpProof(username: string, password: string): SmtpProof {
  // Usernames are issued in lower case; matched without regard to case on both databases.
  const name = username.trim().toLowerCase();
  const presented = sha256hex(password);
  return { username: name, presented, cacheKey: `auth:${sha256hex(`${name}\u0000${presented}`)}` };
}

/** The account and domain behind SMTP credentials from emailgateway.addsmtp, or null. */
export async function checkSmtpCredentials(store: Store, username: string, password: string): Promise<SmtpIdentity | null> {
  return verifySmtpProof(store, smtpProof(username, password));
}

/** checkSmtpCredentials for a proof kept from an earlier AUTH: null once the login is deleted, reset or disabled. */
export async function verifySmtpProof(store: Store, proof: SmtpProof): Promise<SmtpIdentity | null> {
  const verified = store.credentials.smtpIdentities;
  const hit = verified.get(proof.cacheKey);
  if (hit) return hit;
  const who = await lookUpCredentials(store.db, proof);
  if (who) verified.set(proof.cacheKey, who);
  return who;
}

async function lookUpCredentials(db: Db, { username, presented }: SmtpProof): Promise<SmtpIdentity | null> {
  const row = await db('smtp_credentials').where({ username }).first();
  // Compare hashes in constant time; an unknown username costs the same hashing.
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
