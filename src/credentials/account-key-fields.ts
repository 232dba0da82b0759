import type { Knex } from 'knex';
import type { Db } from '../db';
import { CommandError } from '../errors';
import { truthy } from '../http/params';
import type { Params } from '../command';
import { idList, ipListOf, parseIpList } from '../auth/account-keys';
import { formatTime, lockUserRow } from '../auth/users';
import { isDeleting, readUnderAccountLock } from '../domains/deleting';
import { maskAccountKey, maskUserKey } from './credentials';

const FLAG = ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'];

/**
 * Account-key columns read from user.apikey.create's KeyType=account parameters (codes 10, 8, 9 in that order), and
 * the names Domains gives, which limitedDomainIds resolves in the transaction that stores the key.
 */
export async function accountKeyColumns(db: Db, userId: number, p: Params): Promise<{ cols: Record<string, unknown>; domains: string[] | null }> {
  for (const v of [p.cansend, p.canreadanalytics]) {
    if (v !== undefined && typeof v !== 'boolean' && !FLAG.includes(String(v).trim().toLowerCase())) throw new CommandError(10);
  }
  const cols: Record<string, unknown> = {
    kind: 'account',
    can_send: p.cansend === undefined ? true : truthy(p.cansend),
    can_read_analytics: p.canreadanalytics === undefined ? true : truthy(p.canreadanalytics),
    allowed_domain_ids: null,
    allowed_ips: null,
  };
  let domains: string[] | null = null;
  if (p.domains !== undefined && p.domains !== '') {
    domains = (Array.isArray(p.domains) ? p.domains.map(String) : String(p.domains).split(/[\s,]+/)).map((d) => d.trim().toLowerCase()).filter(Boolean);
    if (!domains.length) throw new CommandError(8, 'Invalid Domains: (empty) is not a sender domain of this account');
    // A first look, unlocked, so that a name no domain of the account has answers 8 before AllowedIPs' 9 and the
    // caller's reach (13); limitedDomainIds is the check that counts.
    refuseUnknown(domains, await db('sender_domains').where({ user_id: userId }).whereIn('domain', domains).select('domain'));
  }
  if (p.allowedips !== undefined && p.allowedips !== '') {
    const parsed = parseIpList(p.allowedips);
    if ('bad' in parsed) throw new CommandError(9, `Invalid AllowedIPs: "${parsed.bad.slice(0, 60)}" is neither an IP address nor a CIDR range`);
    if (!parsed.list.length) throw new CommandError(9);
    cols.allowed_ips = parsed.list.join(',');
  }
  return { cols, domains };
}

/** Code 8 for the names that are none of `rows`, the account's sender domains found for them. */
function refuseUnknown(names: string[], rows: { domain: string }[]): void {
  const unknown = names.filter((n) => !rows.some((r) => r.domain === n));
  if (unknown.length) throw new CommandError(8, `Invalid Domains: ${unknown.join(', ')} is not a sender domain of this account`);
}

/**
 * The allowed_domain_ids of a key limited to the account's sender domains `names`, read in the transaction that stores
 * the key, under the account's row lock (src/domains/deleting.ts) that a deletion takes to mark a domain and to remove
 * it: a name whose domain is gone is unknown (code 8), one being deleted is refused (14: once gone, the key would
 * answer 46), and neither can happen between this read and the key's insert.
 */
export async function limitedDomainIds(trx: Knex.Transaction, userId: number, names: string[]): Promise<string> {
  await lockUserRow(trx, userId);
  const rows = await readUnderAccountLock<{ id: number; domain: string; deleting_at: number | null }[]>(
    trx,
    trx('sender_domains').where({ user_id: userId }).whereIn('domain', names).orderBy('domain').select('id', 'domain', 'deleting_at'),
  );
  refuseUnknown(names, rows);
  const marked = rows.filter(isDeleting).map((r) => r.domain);
  if (marked.length) throw new CommandError(14, `Invalid Domains: ${marked.join(', ')} is being deleted (a deletion was begun and not finished): leave it out`);
  return rows.map((r) => Number(r.id)).join(',');
}

/** Names of the account's domains among `ids` (a deleted domain drops out: the key then cannot use it). */
async function domainNames(db: Db, rows: Record<string, any>[]): Promise<Map<number, string>> {
  const ids = [...new Set(rows.flatMap((r) => idList(r.allowed_domain_ids) ?? []))];
  const found: { id: number; domain: string }[] = ids.length ? await db('sender_domains').whereIn('id', ids).select('id', 'domain') : [];
  return new Map(found.map((d) => [Number(d.id), d.domain]));
}

/** The APIKey object of user.apikey.create/list: Octeth's fields, plus KeyType and an account key's permissions and restrictions. */
export async function presentApiKeys(db: Db, rows: Record<string, any>[], fullKey?: string): Promise<Record<string, unknown>[]> {
  const names = await domainNames(db, rows);
  return rows.map((r) => {
    const account = r.kind === 'account';
    const ids = idList(r.allowed_domain_ids);
    return {
      APIKeyID: Number(r.id),
      APIKey: fullKey ?? (account ? maskAccountKey(r.key_last4) : maskUserKey(r.key_last4)),
      KeyType: account ? 'account' : 'user',
      Note: r.note,
      ...(fullKey !== undefined ? { IPAddress: r.bound_ip } : {}),
      BoundIPAddress: r.bound_ip,
      Permissions: r.permissions,
      ...(account
        ? {
            CanSend: !!Number(r.can_send),
            CanReadAnalytics: !!Number(r.can_read_analytics),
            Domains: ids === null ? null : ids.filter((id) => names.has(id)).map((id) => names.get(id)),
            AllowedIPs: ipListOf(r.allowed_ips),
          }
        : {}),
      CreatedAt: formatTime(r.created_at),
      LastUsedAt: formatTime(r.last_used_at),
      LastUsedIP: r.last_used_ip,
      RequestCount: Number(r.request_count ?? 0),
    };
  });
}
