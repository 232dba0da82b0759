/**
 * user.apikey.create — a user API key, shown in full once. KeyType `user` (default): Octeth's key, with optional
 * BoundIPAddress and Permissions (comma list, `*` = all). KeyType `account`: an `sk_live_…` key for the
 * CyberPanel, CloudMails and platform dialects, with CanSend / CanReadAnalytics (default 1) and optional Domains
 * (names of the account's sender domains) and AllowedIPs (addresses and CIDR ranges).
 * Errors: 1 missing Note, 5 bad IP, 6 bad permissions, 7 bad KeyType, 8 bad Domains, 9 bad AllowedIPs,
 * 10 bad CanSend/CanReadAnalytics, 11 a parameter of the other key type, 12 more than the caller may do itself (a
 * restricted key cannot make a key with a permission it lacks, nor an account key), 13 usable from addresses the
 * caller is not, 14 Domains names a domain being deleted (src/domains/deleting.ts; 409 on /api/v1). A caller
 * authenticated by an IP-restricted key (a user key's BoundIPAddress, also through a session opened with it) makes
 * keys at least as restricted: no BoundIPAddress/AllowedIPs given = the caller's own; given, each must lie inside the
 * caller's (an address inside its range, not a wider range). Keys are never changed after creation, so no key can
 * drop or widen its restriction later. Password sessions and unbound keys are unaffected.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { isIp } from '../src/auth/user-fields';
import { canonicalIp, groupPermissions, hasPermission, intersectPermissions, parsePermissions } from '../src/auth/users';
import { newAccountKey, newUserKey } from '../src/credentials/credentials';
import { accountKeyColumns, limitedDomainIds, presentApiKeys } from '../src/credentials/account-key-fields';
import { callerIps, narrowedIps } from '../src/credentials/key-reach';
import { ipListOf } from '../src/auth/account-keys';

const ACCOUNT_ONLY = ['cansend', 'canreadanalytics', 'domains', 'allowedips'];
const USER_ONLY = ['boundipaddress', 'permissions'];

export default defineCommand({
  name: 'user.apikey.create',
  auth: 'user',
  permission: 'User.Update',
  // As every user-area v1 route (USER_AREA): 100 requests a minute per credential.
  rateLimit: { durationSec: 60 },
  omitSuccessErrorCode: true,
  errors: {
    1: 'Missing required parameter (Note)',
    5: 'Invalid BoundIPAddress',
    6: 'Invalid Permissions (comma-separated names such as EmailGateway.ManageDomain, or *)',
    7: 'Invalid KeyType (user or account)',
    8: 'Invalid Domains: each must be a sender domain of this account',
    9: 'Invalid AllowedIPs (IP addresses or CIDR ranges, comma-separated)',
    10: 'Invalid CanSend or CanReadAnalytics (true or false)',
    11: 'CanSend, CanReadAnalytics, Domains and AllowedIPs are for KeyType=account; BoundIPAddress and Permissions for KeyType=user',
    12: 'The new key would have permissions this credential does not have',
    13: "The new key would be usable from addresses this credential is not (its BoundIPAddress or AllowedIPs must lie within this key's)",
    14: 'Invalid Domains: a sender domain named is being deleted (a deletion was begun and not finished): leave it out',
  },
  httpStatus: { 14: 409 },
  async run(p, ctx) {
    const account = String(p.keytype ?? 'user').toLowerCase() === 'account';
    if ((account ? USER_ONLY : ACCOUNT_ONLY).some((k) => p[k] !== undefined && p[k] !== '')) throw new CommandError(11);
    // What the new key could do (its Permissions within the account's group; an account key: the whole group) must
    // be within what this credential may do, or a restricted key could make itself an unrestricted one.
    if (ctx.adminId === undefined && ctx.permissions !== '*') {
      const group = await groupPermissions(ctx.db, ctx.user!.group_id);
      const wanted = intersectPermissions(group, account ? '*' : parsePermissions(p.permissions ? String(p.permissions) : '*'));
      if (wanted === '*' || [...wanted].some((perm) => !hasPermission(ctx.permissions, perm))) throw new CommandError(12);
    }
    // Likewise its addresses: a bound key that could make an unbound one would escape its own binding.
    const caller = callerIps(ctx);
    const outside = (field: string, wider: string[]) =>
      new CommandError(
        13,
        `${field} ${wider.join(', ')} lies outside this key's own addresses (${caller!.join(', ')}): give addresses within them, or none to inherit them`,
      );
    const now = Date.now();
    let row: Record<string, unknown>;
    let key: string;
    let domains: string[] | null = null;
    if (account) {
      const made = newAccountKey();
      key = made.key;
      const { cols, domains: named } = await accountKeyColumns(ctx.db, ctx.user!.id, p);
      domains = named;
      const reach = narrowedIps(caller, ipListOf(cols.allowed_ips as string | null));
      if ('wider' in reach) throw outside('AllowedIPs', reach.wider);
      cols.allowed_ips = reach.ips?.join(',') ?? null;
      row = {
        user_id: ctx.user!.id,
        key_hash: made.hash,
        key_last4: made.last4,
        note: String(p.note),
        bound_ip: null,
        permissions: '*',
        created_at: now,
        ...cols,
      };
    } else {
      const bound = p.boundipaddress ? canonicalIp(String(p.boundipaddress)) : null;
      if (bound && !isIp(bound)) throw new CommandError(5);
      const reach = narrowedIps(caller, bound ? [bound] : null);
      if ('wider' in reach) throw outside('BoundIPAddress', reach.wider);
      // A user key binds to one address: under a caller limited to several, or to a range, the caller picks one.
      if (reach.ips && (reach.ips.length !== 1 || reach.ips[0].includes('/')))
        throw new CommandError(13, `This key may be used from ${caller!.join(', ')}: a user key binds to one address, so give a BoundIPAddress within them`);
      const made = newUserKey();
      key = made.key;
      row = {
        user_id: ctx.user!.id,
        key_hash: made.hash,
        key_last4: made.last4,
        note: String(p.note),
        bound_ip: reach.ips?.[0] ?? null,
        permissions: p.permissions ? String(p.permissions) : '*',
        created_at: now,
      };
    }
    return ctx.db.transaction(async (trx) => {
      // Its domains are named as the account has them when it is stored (limitedDomainIds: none gone, none being deleted).
      if (domains) row.allowed_domain_ids = await limitedDomainIds(trx, ctx.user!.id, domains);
      const [id] = await trx('user_api_keys').insert(row);
      // Presented before the commit, with the account's lock still held: the reply names the domains as stored. Read
      // after it, a deletion landing in between made it answer Domains [] for a key limited to a domain it had checked.
      const [APIKey] = await presentApiKeys(trx, [{ ...row, id, last_used_at: null, last_used_ip: null, request_count: 0 }], key);
      return { APIKeyID: Number(id), APIKey };
    });
  },
});
