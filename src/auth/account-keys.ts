import type { CommandContext, CommandDef } from '../command';
import type { DomainRow } from '../model';
export type { AccountKeyScope, AccountPermission } from '../model';
import { CommandError, CredentialError, PERMISSION_DENIED } from '../errors';
import { ACCOUNT_KEY_PREFIX } from '../credentials/credentials';
import { sha256hex } from './secrets';
import { findUser, groupPermissions } from './users';
import { ipAllowed } from './ip-list';
// Moved to ip-list.ts (no database imports) so config.ts can read address lists too; callers import them from here.
export { ipAllowed, parseIpList } from './ip-list';

export function isAccountKey(presented: string): boolean {
  return presented.startsWith(ACCOUNT_KEY_PREFIX);
}

/**
 * The credential of a dialect request: `Authorization: Bearer <key>` or `X-API-Key: <key>` (CyberPanel accepts
 * both; CloudMails and the platform API use Bearer). Empty when neither is there.
 */
export function presentedKey(headers: Record<string, string | undefined> | undefined): string {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers?.authorization ?? '')?.[1];
  return bearer ?? (headers?.['x-api-key'] ?? '').trim();
}

export function idList(raw: string | null | undefined): number[] | null {
  if (raw === null || raw === undefined) return null;
  return raw.split(',').filter(Boolean).map(Number);
}

export function ipListOf(raw: string | null | undefined): string[] | null {
  if (raw === null || raw === undefined) return null;
  return raw.split(',').filter(Boolean);
}

const TOUCH_EVERY_MS = 60_000;

/** Records a use; the row is written at most once a minute per key and process (a busy key costs no write per request). */
async function touch(ctx: CommandContext, keyId: number): Promise<void> {
  const now = Date.now();
  // Uses not yet written to the key's row, in this store (process): src/store/credential-caches.ts.
  const pendingUses = ctx.store.credentials.accountKeyUses;
  const p = pendingUses.get(keyId) ?? { n: 0, ip: ctx.ip, since: 0 };
  p.n += 1;
  p.ip = ctx.ip;
  pendingUses.set(keyId, p);
  if (now - p.since < TOUCH_EVERY_MS) return;
  const n = p.n;
  pendingUses.set(keyId, { n: 0, ip: ctx.ip, since: now });
  await ctx
    .db('user_api_keys')
    .where({ id: keyId })
    .update({ last_used_at: now, last_used_ip: ctx.ip, request_count: ctx.db.raw('request_count + ?', [n]) });
}

/**
 * Authenticates an account key for a sender-kind command. Codes: 13 unknown or revoked key, 2 its account is
 * gone, PERMISSION_DENIED (99999) when the command is not open to account keys, the key lacks the permission
 * the command needs, or the client's address is outside the key's list. Fills ctx.user, ctx.accountKey and
 * ctx.permissions; ctx.domain stays unset (commands resolve it: see src/mail/sender-for.ts and domainScope).
 */
export async function authenticateAccountKey(cmd: CommandDef, presented: string, ctx: CommandContext): Promise<void> {
  const hash = sha256hex(presented);
  let found = ctx.store.credentials.accountKeys.get(hash);
  if (!found) {
    const row = await ctx.db('user_api_keys').where({ key_hash: hash, kind: 'account' }).first();
    if (!row) throw new CredentialError(13, 'Invalid API key', 'unauthorized');
    found = {
      userId: Number(row.user_id),
      scope: {
        id: Number(row.id),
        canSend: !!Number(row.can_send),
        canReadAnalytics: !!Number(row.can_read_analytics),
        domainIds: idList(row.allowed_domain_ids),
        allowedIps: ipListOf(row.allowed_ips),
      },
    };
    ctx.store.credentials.accountKeys.set(hash, found);
  }
  const { scope } = found;
  if (!cmd.accountKey) throw new CommandError(PERMISSION_DENIED, `Account API keys cannot call ${cmd.name}`);
  if (!ipAllowed(scope.allowedIps, ctx.ip)) throw new CommandError(PERMISSION_DENIED, `This API key may not be used from ${ctx.ip}`);
  const allowed = cmd.accountKey === 'can_send' ? scope.canSend : scope.canReadAnalytics;
  if (!allowed) throw new CommandError(PERMISSION_DENIED, `This API key lacks the ${cmd.accountKey} permission`);
  const user = await findUser(ctx.db, found.userId);
  if (!user) throw new CredentialError(2, 'Invalid user account', 'account_inactive');
  ctx.user = user;
  ctx.accountKey = scope;
  if (scope.allowedIps) ctx.credentialIps = scope.allowedIps;
  // An account key reaches what its account's group may do, no more (as sessions and user keys). Only user commands
  // check a permission (authorize): sender commands, the sends among them, skip the group's lookup.
  ctx.permissions = cmd.auth === 'user' && cmd.permission ? await groupPermissions(ctx.db, user.group_id) : '*';
  await touch(ctx, scope.id);
}

/** The caller's reach over the account's data: the sender key's one domain, or the account key's domains (null = all). */
export interface DomainScope {
  userId: number;
  domainIds: number[] | null;
}

export function domainScope(ctx: CommandContext): DomainScope {
  if (ctx.domain) return { userId: ctx.user!.id, domainIds: [Number(ctx.domain.id)] };
  return { userId: ctx.user!.id, domainIds: ctx.accountKey?.domainIds ?? null };
}

/** True when the scope covers the domain. */
export function inScope(scope: DomainScope, domainId: number): boolean {
  return scope.domainIds === null || scope.domainIds.includes(Number(domainId));
}

/**
 * The account's sender domain by name (any status), cached like the key itself; undefined when the name is
 * not one of this account's domains (another account's domain answers the same as an unknown one).
 */
export async function accountDomainByName(ctx: CommandContext, userId: number, name: string): Promise<DomainRow | undefined> {
  const key = `${userId}:${name}`;
  const cached = ctx.store.credentials.accountDomains.get(key);
  if (cached) return cached;
  const row: DomainRow | undefined = await ctx.db('sender_domains').where({ domain: name, user_id: userId }).first();
  if (row) ctx.store.credentials.accountDomains.set(key, row);
  return row;
}
