import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Db } from '../db';
import type { UserRow } from '../model';
import { sha256hex } from './secrets';
import { planOf } from '../accounts/plans';

export async function findUser(db: Db, id: number): Promise<UserRow | undefined> {
  return db('users').where({ id }).first();
}

/** Locks the user's row for the rest of the transaction (MySQL), so per-account limits are checked and taken as one step; SQLite transactions are already serial. */
export async function lockUserRow(trx: Db, userId: number): Promise<void> {
  const q = trx('users').where({ id: userId }).first('id');
  if (trx.client.config.client === 'mysql2') await q.forUpdate();
  else await q;
}

export function isEnabled(user: UserRow): boolean {
  return user.account_status === 'Enabled';
}

/** Permission names as written (Octeth: comma-separated, no spaces), or '*' for all. Matching ignores case. */
export function parsePermissions(raw: string): '*' | Set<string> {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.includes('*')) return '*';
  return new Set(list);
}

export function hasPermission(perms: '*' | Set<string> | undefined, name: string): boolean {
  if (perms === '*') return true;
  const wanted = name.toLowerCase();
  return perms !== undefined && [...perms].some((p) => p.toLowerCase() === wanted);
}

export function intersectPermissions(a: '*' | Set<string>, b: '*' | Set<string>): '*' | Set<string> {
  if (a === '*') return b;
  if (b === '*') return a;
  return new Set([...a].filter((p) => hasPermission(b, p)));
}

/** Client address as one canonical string: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes plain IPv4. */
export function canonicalIp(ip: string | undefined | null): string {
  const s = (ip ?? '').trim();
  // One spelling per address (RFC 5952 for IPv6, IPv4-mapped as IPv4), so a bound address typed as 2001:0db8::1
  // matches the 2001:db8::1 a request comes from. Only the standard forms (net.isIP), as before.
  if (isIP(s)) return ipaddr.process(s).toString();
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  return (m ? m[1] : s).toLowerCase();
}

export async function groupPermissions(db: Db, groupId: number): Promise<'*' | Set<string>> {
  const g = await db('user_groups').where({ id: groupId }).first('permissions');
  return parsePermissions(g?.permissions ?? '');
}

/**
 * An Octeth user API key row by the key's hash; the key itself is never stored. Account keys (`sk_live_…`,
 * kind 'account') are not user keys: they never open a session or a user command.
 */
export async function findUserApiKey(db: Db, presented: string) {
  return db('user_api_keys')
    .where({ key_hash: sha256hex(presented), kind: 'user' })
    .first();
}

export function yesNo(v: unknown): 0 | 1 {
  return v === true || v === 1 || v === '1' ? 1 : 0;
}

/** `YYYY-MM-DD HH:MM:SS` in UTC, Octeth's timestamp format; null stays null. */
export function formatTime(ms: number | string | null | undefined): string | null {
  if (ms === null || ms === undefined) return null;
  return new Date(Number(ms))
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '');
}

export function presentUserInfo(user: UserRow): Record<string, unknown> {
  return {
    UserID: user.id,
    RelUserGroupID: user.group_id,
    Username: user.username,
    EmailAddress: user.email_address,
    FirstName: user.first_name,
    LastName: user.last_name,
    CompanyName: user.company_name,
    TimeZone: user.time_zone,
    Language: user.language,
    AccountStatus: user.account_status,
    ReputationLevel: user.reputation_level,
    Verified: yesNo(user.verified),
    PhoneVerified: yesNo(user.phone_verified),
    AvailableCredits: Number(user.available_credits),
    LimitEmailGatewaySenderDomains: String(user.limit_sender_domains),
    LimitEmailSendPerPeriod: String(user.limit_monthly),
    LimitEmailSendPerDay: String(user.limit_daily),
    Plan: planOf(user).name,
    CreatedAt: formatTime(user.created_at),
  };
}
