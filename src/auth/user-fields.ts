import net from 'node:net';
import type { Db } from '../db';
import { CommandError } from '../errors';
import { truthy } from '../http/params';
import type { Params } from '../command';
import { hashPassword } from './secrets';
import { planName } from '../accounts/plans';

// eslint-disable-next-line no-control-regex -- control characters (NUL, ESC, …) are refused in the local part
const EMAIL = /^[^\s@<>()",;:\\\x00-\x1f\x7f]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
/** No top-level domain is all digits (RFC 3696 §2): such a "domain" is an IP address (root@127.0.0.1), which the
 * worker would otherwise connect to as the domain's implicit MX. */
const NUMERIC_TLD = /\.[0-9]+$/;

export function isEmail(v: string): boolean {
  return v.length <= 191 && EMAIL.test(v) && !NUMERIC_TLD.test(v);
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function isIp(v: string): boolean {
  return net.isIP(v) !== 0;
}

/**
 * Turns user.create / user.update parameters into column values, checking what a schema cannot
 * (email syntax, time zone, group, uniqueness). Collects every failing code, as Octeth's array errors do.
 */
export async function userColumns(db: Db, p: Params, exceptUserId: number | null, hashCost?: number): Promise<Record<string, unknown>> {
  const codes: number[] = [];
  const cols: Record<string, unknown> = {};
  const str = (k: string) => (p[k] === undefined ? undefined : String(p[k]).trim());

  const email = str('emailaddress');
  if (email !== undefined) {
    if (!isEmail(email)) codes.push(10);
    else cols.email_address = email.toLowerCase();
  }
  const tz = str('timezone');
  if (tz !== undefined) {
    if (!isTimeZone(tz)) codes.push(18);
    else cols.time_zone = tz;
  }
  if (p.relusergroupid !== undefined) {
    if (
      !(await db('user_groups')
        .where({ id: Number(p.relusergroupid) })
        .first('id'))
    )
      codes.push(11);
    else cols.group_id = Number(p.relusergroupid);
  }
  const simple: [string, string][] = [
    ['username', 'username'],
    ['firstname', 'first_name'],
    ['lastname', 'last_name'],
    ['companyname', 'company_name'],
    ['language', 'language'],
    ['accountstatus', 'account_status'],
    ['reputationlevel', 'reputation_level'],
  ];
  for (const [param, col] of simple) if (str(param) !== undefined) cols[col] = str(param);
  const numeric: [string, string][] = [
    ['availablecredits', 'available_credits'],
    ['limitemailgatewaysenderdomains', 'limit_sender_domains'],
    ['limitemailsendperperiod', 'limit_monthly'],
    ['limitemailsendperday', 'limit_daily'],
  ];
  for (const [param, col] of numeric) if (p[param] !== undefined) cols[col] = Number(p[param]);
  if (p.plan !== undefined) cols.plan = planName(p.plan);
  if (p.verified !== undefined) cols.verified = truthy(p.verified);
  if (p.phoneverified !== undefined) cols.phone_verified = truthy(p.phoneverified);

  if (cols.username !== undefined) {
    const q = db('users').whereRaw('lower(username) = ?', [String(cols.username).toLowerCase()]);
    if (exceptUserId !== null) q.whereNot({ id: exceptUserId });
    if (await q.first('id')) codes.push(12);
  }
  if (cols.email_address !== undefined) {
    const q = db('users').where({ email_address: cols.email_address });
    if (exceptUserId !== null) q.whereNot({ id: exceptUserId });
    if (await q.first('id')) codes.push(13);
  }
  if (codes.length) throw new CommandError(codes.sort((a, b) => a - b));
  if (p.password !== undefined) cols.password_hash = await hashPassword(String(p.password), hashCost);
  return cols;
}

export const USER_FIELD_ERRORS: Record<number, string> = {
  2: 'Missing required parameter (EmailAddress)',
  3: 'Missing required parameter (Username)',
  4: 'Missing required parameter (Password)',
  5: 'Password is too short (at least 8 characters)',
  6: 'Missing required parameter (FirstName or CompanyName)',
  7: 'Invalid Username (3-64 letters, digits and . _ @ + -)',
  8: 'Missing required parameter (TimeZone)',
  9: 'Missing required parameter (Language)',
  10: 'Invalid email address',
  11: 'Invalid user group (RelUserGroupID)',
  12: 'Username is already taken',
  13: 'Email address is already in use',
  14: 'Invalid Language (use a code such as en or en-US)',
  15: 'Invalid ReputationLevel (Trusted or Untrusted)',
  17: 'Invalid AccountStatus (Enabled or Disabled)',
  18: 'Invalid TimeZone (use an IANA name such as Europe/Istanbul)',
  19: 'Invalid flag value (Verified, PhoneVerified)',
  20: 'Invalid limit or credit value (a whole number, 0 = unlimited)',
  21: 'Invalid Plan (Starter, Professional or Enterprise)',
};
