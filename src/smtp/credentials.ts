import type { Db } from '../db';
import type { UserRow } from '../command';
import type { DomainRow } from '../domains/domains';
import { safeEqual, sha256hex } from '../auth/secrets';

export interface SmtpIdentity {
  smtpId: number;
  user: UserRow;
  domain: DomainRow;
}

/** The account and domain behind SMTP credentials from emailgateway.addsmtp, or null. */
export async function checkSmtpCredentials(db: Db, username: string, password: string): Promise<SmtpIdentity | null> {
  const row = await db('smtp_credentials').where({ username: username.trim() }).first();
  // Compare hashes in constant time; an unknown username costs the same hashing.
  const presented = sha256hex(password);
  if (!row || !safeEqual(presented, String(row.password_hash)) || row.status !== 'Enabled') return null;
  const [user, domain] = await Promise.all([db('users').where({ id: row.user_id }).first(), db('sender_domains').where({ id: row.domain_id, user_id: row.user_id }).first()]);
  if (!user || !domain) return null;
  await db('smtp_credentials').where({ id: row.id }).update({ last_used_at: Date.now() });
  return { smtpId: Number(row.id), user, domain };
}

/** The identity of a credential by username alone, for SMTP_TRUSTED_CLIENTS (the address is the proof). */
export async function smtpIdentityByUsername(db: Db, username: string): Promise<SmtpIdentity | null> {
  const row = await db('smtp_credentials').where({ username, status: 'Enabled' }).first();
  if (!row) return null;
  const [user, domain] = await Promise.all([db('users').where({ id: row.user_id }).first(), db('sender_domains').where({ id: row.domain_id, user_id: row.user_id }).first()]);
  return user && domain ? { smtpId: Number(row.id), user, domain } : null;
}
