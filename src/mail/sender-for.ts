import type { CommandContext } from '../command';
import { PERMISSION_DENIED } from '../errors';
import { accountDomainByName, domainScope, inScope } from '../auth/account-keys';
import type { Sender } from './prepare';
import type { Problem } from './send-request';
import { STATUS } from '../domains/domains';

export const FROM_DOMAIN_NOT_FOUND = 46;

/**
 * Who a message is sent as. A sender key sends from its one domain (code 3 later if From is elsewhere, as
 * before). An account key sends from the account's domain that the From address names: 46 when the account
 * has no such domain (another account's domain answers the same), 99999 when the key is restricted to other
 * domains. Whether the domain is Enabled is the send pipeline's check (32), as for sender keys.
 */
export async function senderFor(ctx: CommandContext, fromEmail: string): Promise<{ ok: true; sender: Sender } | { ok: false; problem: Problem }> {
  const user = ctx.user!;
  if (ctx.domain) return { ok: true, sender: { user, domain: ctx.domain, apiKeyId: ctx.senderKeyId ?? null, source: 'api' } };
  const name = (fromEmail.split('@')[1] ?? '').toLowerCase();
  const domain = name ? await accountDomainByName(ctx, user.id, name) : undefined;
  if (!domain)
    return { ok: false, problem: { code: FROM_DOMAIN_NOT_FOUND, message: `From domain "${name.slice(0, 253)}" is not a sender domain of this account` } };
  if (!inScope(domainScope(ctx), Number(domain.id)))
    return { ok: false, problem: { code: PERMISSION_DENIED, message: `This API key may not send from ${name}` } };
  return { ok: true, sender: { user, domain, apiKeyId: null, source: 'api' } };
}

/**
 * The address a message without From is sent as, when the caller asked for one (sendbatch's DefaultFrom, the
 * CloudMails batch): `noreply@` the sender key's domain, or the first (oldest) Enabled domain of the account that
 * the account key may use. Null when there is none, so the message fails with the usual code 3.
 */
export async function defaultFromAddress(ctx: CommandContext): Promise<string | null> {
  if (ctx.domain) return `noreply@${ctx.domain.domain}`;
  const scope = domainScope(ctx);
  const row = await ctx
    .db('sender_domains')
    .where({ user_id: scope.userId, status: STATUS.enabled })
    .modify((q) => (scope.domainIds === null ? q : q.whereIn('id', scope.domainIds)))
    .orderBy('id')
    .first('domain');
  return row ? `noreply@${row.domain}` : null;
}
