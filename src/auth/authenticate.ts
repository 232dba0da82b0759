import type { CommandContext, CommandDef, Params } from '../command';
import { AUTH_FAILED, CommandError, CredentialError, PERMISSION_DENIED } from '../errors';
import { isAdminApiKey } from './admin';
import { authenticateAccountKey, isAccountKey, presentedKey } from './account-keys';
import { resumeSession } from './sessions';
import { sha256hex } from './secrets';
import type { CachedSender } from '../store/credential-caches';
import { findUser, findUserApiKey, groupPermissions, hasPermission, intersectPermissions, isEnabled, parsePermissions } from './users';

const AUTH_TEXT = 'Authentication failure or session expired';
/** 99998 as for any refused credential on the Octeth doors; the dialects answer it as the sender door's code 2. */
const DISABLED = () => new CredentialError(AUTH_FAILED, 'Authentication failed: the account is disabled', 'account_inactive');

function credential(params: Params, name: string): string {
  const v = params[name];
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
}

/**
 * Fills ctx with the caller for the command's auth kind, or throws 99998.
 * User commands take SessionID (preferred) or APIKey; admin commands take AdminAPIKey or an admin SessionID.
 */
export async function authenticate(cmd: CommandDef, params: Params, ctx: CommandContext): Promise<void> {
  if (cmd.auth === 'none') return;
  if (cmd.auth === 'sender') return authenticateSender(cmd, params, ctx);
  const sessionId = credential(params, 'sessionid');
  if (cmd.auth === 'user' && cmd.adminToo && (await authenticateAdmin(params, ctx, sessionId))) return;
  if (cmd.auth === 'admin') {
    // The admin v1 routes take the key as a Bearer token (MX and PowerMTA integrations).
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(ctx.headers?.authorization ?? '')?.[1];
    const adminKey = credential(params, 'adminapikey') || bearer || '';
    if (adminKey && (await isAdminApiKey(ctx.db, ctx.config, adminKey))) {
      ctx.adminId = 0;
      return;
    }
    if (sessionId) {
      const s = await resumeSession(ctx.db, sessionId, 'admin', ctx.config);
      if (s) {
        ctx.adminId = s.subjectId;
        ctx.sessionHash = s.hash;
        return;
      }
    }
    throw new CommandError(AUTH_FAILED, AUTH_TEXT);
  }

  // Commands open to account keys (the platform dialect's contacts, domains, campaigns) take one as Bearer too.
  const presented = presentedKey(ctx.headers);
  if (cmd.accountKey && !sessionId && !credential(params, 'apikey') && isAccountKey(presented)) {
    await authenticateAccountKey(cmd, presented, ctx);
    if (!isEnabled(ctx.user!)) throw DISABLED();
    return;
  }

  let keyPerms: '*' | Set<string> = '*';
  let userId: number | null = null;
  if (sessionId) {
    const s = await resumeSession(ctx.db, sessionId, 'user', ctx.config);
    // A session opened with an API key keeps to the key: its Permissions and IP binding, and it ends with the key.
    const key = s?.apiKeyId == null ? undefined : await ctx.db('user_api_keys').where({ id: s.apiKeyId, user_id: s.subjectId, kind: 'user' }).first();
    if (s && (s.apiKeyId === null || (key && (!key.bound_ip || key.bound_ip === ctx.ip)))) {
      userId = s.subjectId;
      ctx.sessionHash = s.hash;
      if (key) keyPerms = parsePermissions(key.permissions);
      if (key?.bound_ip) ctx.credentialIps = [key.bound_ip];
    }
  } else {
    // A user API key may also come as `Authorization: Bearer <key>` (v1 routes such as /api/v1/contacts).
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(ctx.headers?.authorization ?? '')?.[1];
    const apiKey = credential(params, 'apikey') || bearer || '';
    const key = apiKey ? await findUserApiKey(ctx.db, apiKey) : undefined;
    if (key && (!key.bound_ip || key.bound_ip === ctx.ip)) {
      userId = Number(key.user_id);
      keyPerms = parsePermissions(key.permissions);
      if (key.bound_ip) ctx.credentialIps = [key.bound_ip];
      await ctx
        .db('user_api_keys')
        .where({ id: key.id })
        .update({ last_used_at: Date.now(), last_used_ip: ctx.ip, request_count: ctx.db.raw('request_count + 1') });
    }
  }
  const user = userId === null ? undefined : await findUser(ctx.db, userId);
  if (!user) throw new CommandError(AUTH_FAILED, AUTH_TEXT);
  if (!isEnabled(user)) throw DISABLED();
  ctx.user = user;
  ctx.permissions = intersectPermissions(await groupPermissions(ctx.db, user.group_id), keyPerms);
}

/** For a user command the admin may also run: true when the credential is the admin's (ctx.adminId set). */
async function authenticateAdmin(params: Params, ctx: CommandContext, sessionId: string): Promise<boolean> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(ctx.headers?.authorization ?? '')?.[1];
  const adminKey = credential(params, 'adminapikey') || (credential(params, 'apikey') ? '' : bearer) || '';
  if (adminKey && (await isAdminApiKey(ctx.db, ctx.config, adminKey))) {
    ctx.adminId = 0;
    return true;
  }
  if (adminKey && credential(params, 'adminapikey')) throw new CommandError(AUTH_FAILED, AUTH_TEXT);
  if (!sessionId) return false;
  const s = await resumeSession(ctx.db, sessionId, 'admin', ctx.config);
  if (!s) return false;
  ctx.adminId = s.subjectId;
  ctx.sessionHash = s.hash;
  return true;
}

export function authorize(cmd: CommandDef, ctx: CommandContext): void {
  if (cmd.auth !== 'user' || !cmd.permission || ctx.adminId !== undefined) return;
  if (!hasPermission(ctx.permissions, cmd.permission)) {
    throw new CommandError(PERMISSION_DENIED, `User does not have the required permission (${cmd.permission})`);
  }
}

/**
 * Sender API key from `Authorization: Bearer`, `X-API-Key` or the SenderAPIKey parameter; an account key
 * (`sk_live_…`) goes to authenticateAccountKey. Codes follow the v1 contract: 1 missing, 13 invalid (unknown,
 * revoked), 2 the key's account or domain is gone.
 */
/** The sender credential a request presents: `Authorization: Bearer`, `X-API-Key`, then SenderAPIKey ('' for none). */
export function presentedSenderKey(headers: Record<string, string | undefined> | undefined, params: Params): string {
  return presentedKey(headers) || credential(params, 'senderapikey');
}

async function authenticateSender(cmd: CommandDef, params: Params, ctx: CommandContext): Promise<void> {
  const presented = presentedSenderKey(ctx.headers, params);
  if (!presented) throw new CommandError(1, 'Missing SenderAPIKey: send it as "Authorization: Bearer <key>"');
  if (isAccountKey(presented)) await authenticateAccountKey(cmd, presented, ctx);
  else {
    const hash = sha256hex(presented);
    const found = await ctx.store.credentials.senders.load(hash, () => findSender(ctx, hash));
    if (!found) throw new CommandError(13, 'Invalid SenderAPIKey');
    ctx.user = found.user;
    ctx.domain = found.domain;
    ctx.senderKeyId = found.keyId;
    ctx.permissions = '*';
  }
  // A disabled account's keys read and change nothing; the sends answer code 12 per message, as their contract says.
  if (!isEnabled(ctx.user!) && !cmd.answersDisabledAccount) throw new CommandError(2, 'Invalid user account: the account is disabled');
}

/** The sender key with this hash with its account and domain (undefined: no such enabled key), touched (LastUsedAt). */
async function findSender(ctx: CommandContext, hash: string): Promise<CachedSender | undefined> {
  const key = await ctx.db('domain_api_keys').where({ key_hash: hash }).first();
  if (!key || key.status !== 'Enabled') return undefined;
  const [user, domain] = await Promise.all([
    findUser(ctx.db, Number(key.user_id)),
    ctx.db('sender_domains').where({ id: key.domain_id, user_id: key.user_id }).first(),
  ]);
  if (!user || !domain) throw new CommandError(2, 'Invalid DomainID or invalid user account');
  await touchSenderKey(ctx, Number(key.id));
  return { keyId: Number(key.id), user, domain };
}

const TOUCH_EVERY_MS = 60_000;

/**
 * Keeps a sender key's LastUsedAt (getapis) true to within a minute: written on a lookup that found the key, at
 * most once a minute per key in each store (process), so a busy key does not cost a write per send.
 */
async function touchSenderKey(ctx: CommandContext, keyId: number): Promise<void> {
  const now = Date.now();
  const touched = ctx.store.credentials.senderKeyTouches;
  if (now - (touched.get(keyId) ?? 0) < TOUCH_EVERY_MS) return;
  touched.set(keyId, now);
  await ctx.db('domain_api_keys').where({ id: keyId }).update({ last_used_at: now });
}
