import type { CommandContext, Params } from '../command';
import { CommandError } from '../errors';
import { isEmail } from '../auth/user-fields';
import { addSuppression, presentSuppression } from './suppressions';

/** Shared bodies of the private (DomainID) and public (sender key) suppression commands. */
export async function listSuppressions(ctx: CommandContext, domainId: number, p: Params) {
  const q = ctx.db('suppressions').where({ domain_id: domainId });
  if (p.query)
    q.whereRaw(`email like ? escape '!'`, [
      `%${String(p.query)
        .toLowerCase()
        .replace(/[!%_]/g, (c) => '!' + c)}%`,
    ]);
  if (p.reason) q.where({ reason: String(p.reason) });
  const [{ n }] = await q.clone().count({ n: '*' });
  const rows = await q.orderBy('id', 'desc').limit(Number(p.retrievecount)).offset(Number(p.startfrom));
  return { TotalRecords: Number(n), Suppressions: rows.map(presentSuppression) };
}

export async function addOne(ctx: CommandContext, domainId: number, p: Params) {
  const email = String(p.emailaddress).trim();
  if (!isEmail(email)) throw new CommandError(4);
  await addSuppression(ctx.db, domainId, email, 'manual', typeof p.detail === 'string' ? p.detail : 'added through the API');
  const row = await ctx.db('suppressions').where({ domain_id: domainId, email: email.toLowerCase() }).first();
  return { Suppression: presentSuppression(row) };
}

export async function deleteOne(ctx: CommandContext, domainId: number, p: Params) {
  const deleted = await ctx
    .db('suppressions')
    .where({ domain_id: domainId, email: String(p.emailaddress).trim().toLowerCase() })
    .delete();
  if (!deleted) throw new CommandError(5);
  return {};
}

export const PRIVATE_ERRORS = {
  1: 'Missing required parameter (DomainID)',
  2: 'Domain not found or access denied',
  3: 'Missing required parameter (EmailAddress)',
  4: 'Invalid email address',
  5: 'Email address is not on the suppression list',
  6: 'Invalid paging or filter value (StartFrom ≥ 0, RetrieveCount 1-100)',
};

export const PUBLIC_ERRORS = {
  1: 'Missing SenderAPIKey',
  2: 'Invalid DomainID or invalid user account',
  3: 'Missing EmailAddress',
  4: 'Invalid email address',
  5: 'Email address is not on the suppression list',
  6: 'Invalid paging or filter value (StartFrom ≥ 0, RetrieveCount 1-100)',
  13: 'Invalid SenderAPIKey',
  429: 'Too many requests',
};
