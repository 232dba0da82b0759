import type { Config } from '../config';
import { formatTime } from '../auth/users';
import { randomString, sha256hex } from '../auth/secrets';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A sender API key: `eg_live_` + 32 base62 characters (190 bits). Only its SHA-256 is stored. */
export function newSenderKey(): { key: string; hash: string; last4: string } {
  const key = `eg_live_${randomString(32, BASE62)}`;
  return { key, hash: sha256hex(key), last4: key.slice(-4) };
}

export function maskSenderKey(last4: string): string {
  return `eg_live_${'*'.repeat(28)}${last4}`;
}

/** A user API key in Octeth's look: 8 groups of 4 uppercase hex digits (128 bits). */
export function newUserKey(): { key: string; hash: string; last4: string } {
  const key = Array.from({ length: 8 }, () => randomString(4, '0123456789ABCDEF')).join('-');
  return { key, hash: sha256hex(key), last4: key.slice(-4) };
}

export function maskUserKey(last4: string): string {
  return `${Array.from({ length: 7 }, () => '****').join('-')}-${last4}`;
}

export const ACCOUNT_KEY_PREFIX = 'sk_live_';

/** An account API key (CyberPanel, CloudMails, platform dialects): `sk_live_` + 40 base62 characters (238 bits). Only its SHA-256 is stored. */
export function newAccountKey(): { key: string; hash: string; last4: string } {
  const key = `${ACCOUNT_KEY_PREFIX}${randomString(40, BASE62)}`;
  return { key, hash: sha256hex(key), last4: key.slice(-4) };
}

export function maskAccountKey(last4: string): string {
  return `${ACCOUNT_KEY_PREFIX}${'*'.repeat(36)}${last4}`;
}

/** SMTP username `smtp_<12 lowercase alnum>` and a 24-character base62 password (142 bits, stored as SHA-256). */
export function newSmtpUsername(): string {
  return `smtp_${randomString(12)}`;
}

export function newSmtpPassword(): { password: string; hash: string } {
  const password = randomString(24, BASE62);
  return { password, hash: sha256hex(password) };
}

export interface SenderKeyRow {
  id: number;
  domain_id: number;
  description: string;
  status: string;
  key_last4: string;
  created_at: number;
  last_used_at: number | null;
}

export function presentSenderKey(row: SenderKeyRow, fullKey?: string): Record<string, unknown> {
  return {
    APIKeyID: row.id,
    APIKey: fullKey ?? maskSenderKey(row.key_last4),
    Description: row.description,
    DomainID: row.domain_id,
    Status: row.status,
    CreatedAt: formatTime(row.created_at),
    LastUsedAt: formatTime(row.last_used_at),
  };
}

export function presentSmtp(
  row: { id: number; domain_id: number; username: string; created_at: number },
  config: Config,
  password?: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { SMTPID: row.id, SMTPUsername: row.username };
  if (password !== undefined) out.SMTPPassword = password;
  return { ...out, SMTPHost: config.smtpPublicHost, SMTPPorts: config.smtpPublicPorts, DomainID: row.domain_id, CreatedAt: formatTime(row.created_at) };
}
