import type { CommandContext, Params } from '../command';
import { CommandError } from '../errors';
import { isEmail } from '../auth/user-fields';
import { containsPattern, isMysql } from '../db';
import { STATUS } from '../domains/domains';
import { addSuppression, presentSuppression } from './suppressions';

/** Taking an address off a suspended domain's list: refused (deleteOne), as deleting the domain is. */
export const SUSPENDED_CODE = 7;
export const SUSPENDED_MESSAGE =
  "The domain is suspended: addresses cannot be taken off its suppression list until the installation's admin lifts the suspension";

/** Shared bodies of the private (DomainID) and public (sender key) suppression commands. */
export async function listSuppressions(ctx: CommandContext, domainId: number, p: Params) {
  const q = ctx.db('suppressions').where({ domain_id: domainId });
  if (p.query) q.whereRaw(`email like ? escape '!'`, [containsPattern(String(p.query).toLowerCase())]);
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

/**
 * Refused while the domain is Suspended: its bounces and complaints are the evidence the admin reviews, and the
 * backlog the lift releases is checked against them at delivery. The domain row is share-locked on MySQL, so a suspension committed first
 * is seen and one asked for meanwhile waits for this delete.
 */
export async function deleteOne(ctx: CommandContext, domainId: number, p: Params) {
  const email = String(p.emailaddress).trim().toLowerCase();
  const deleted = await ctx.db.transaction(async (trx): Promise<number> => {
    const q = trx('sender_domains').where({ id: domainId }).first('status');
    const domain = (await (isMysql(trx) ? q.forShare() : q)) as { status: string } | undefined;
    if (domain?.status === STATUS.suspended) throw new CommandError(SUSPENDED_CODE, SUSPENDED_MESSAGE);
    return Number(await trx('suppressions').where({ domain_id: domainId, email }).delete());
  });
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
  [SUSPENDED_CODE]: SUSPENDED_MESSAGE,
};

export const PUBLIC_ERRORS = {
  1: 'Missing SenderAPIKey',
  2: 'Invalid DomainID or invalid user account',
  3: 'Missing EmailAddress',
  4: 'Invalid email address',
  5: 'Email address is not on the suppression list',
  6: 'Invalid paging or filter value (StartFrom ≥ 0, RetrieveCount 1-100)',
  [SUSPENDED_CODE]: SUSPENDED_MESSAGE,
  13: 'Invalid SenderAPIKey',
  429: 'Too many requests',
};

/** The kept lists of deleted domains (emailgateway.getretainedsuppressions, deleteretainedsuppression). */
export const RETAINED_ERRORS = {
  1: 'Invalid Domain (a domain name)',
  3: 'Missing required parameter (EmailAddress)',
  4: 'Invalid email address',
  5: 'Email address is not kept from a deleted domain',
  6: 'Invalid paging or filter value (StartFrom ≥ 0, RetrieveCount 1-100, Reason hard_bounce, complaint or unsubscribe)',
};
