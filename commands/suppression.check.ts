/**
 * suppression.check — for up to 500 addresses, whether a send would skip each and why: MatchedScopes narrowest first
 * (PerList with ListID, SenderDomain: Postern's per-domain lists, AccountWide, SystemWide) and IsPatternSuppressed
 * (patterns skip gateway sends, not campaigns). Results keyed by the address as sent (deduplicated case-sensitively).
 * Errors (array): 1 no input, 2 malformed EmailAddresses or no valid address, 4 ListID not the caller's, 5 over 500.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { addressesOf, scopeOf } from '../src/suppression/entries';
import { patternSuppressed, scopedWhere, scopeName } from '../src/suppression/scopes';

const MAX = 500;
const DOMAIN_SOURCE: Record<string, string> = { hard_bounce: 'Hard Bounced', complaint: 'SPAM complaint', unsubscribe: 'Unsubscribe', manual: 'User' };
const ORDER = ['PerList', 'SenderDomain', 'AccountWide', 'SystemWide'];

export default defineCommand({
  name: 'suppression.check',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  arrayErrors: true,
  errors: {
    1: 'Missing input: send EmailAddresses or EmailAddressesBulk',
    2: 'EmailAddresses is not a JSON array, or no address is valid',
    4: 'Invalid ListID',
    5: `More than ${MAX} valid addresses`,
  },
  async run(p, ctx) {
    const input = addressesOf(p);
    if (!input.given) throw new CommandError([1]);
    const scope = await scopeOf(ctx, p);
    const valid = [...new Set(input.valid)];
    if (input.malformedJson || !valid.length) {
      const err = new CommandError([2]);
      err.extra = { TotalFailed: input.failed.length, FailedEmailAddresses: input.failed };
      throw err;
    }
    if (valid.length > MAX) {
      const err = new CommandError([5]);
      err.extra = { MaxEmailAddresses: MAX, TotalSubmitted: valid.length };
      throw err;
    }
    const lower = [...new Set(valid.map((e) => e.toLowerCase()))];
    const [entries, domainRows] = await Promise.all([
      scopedWhere(ctx.db('suppression_entries as e').whereIn('e.email', lower), ctx.db, scope.userId, scope.listId ? [scope.listId] : []).select('e.*'),
      ctx
        .db('suppressions as x')
        .join('sender_domains as d', 'd.id', 'x.domain_id')
        .where('d.user_id', scope.userId)
        .whereIn('x.email', lower)
        .select('x.email', 'x.reason', 'x.detail', 'd.domain'),
    ]);
    const Results: Record<string, unknown> = {};
    for (const email of valid) {
      const e = email.toLowerCase();
      const matched = [
        ...entries.filter((r: { email: string }) => r.email === e).map((r: any) => ({ Scope: scopeName(r), SuppressionSource: r.source, Reason: r.reason })),
        ...domainRows
          .filter((r: { email: string }) => r.email === e)
          .map((r: any) => ({ Scope: 'SenderDomain', SenderDomain: r.domain, SuppressionSource: DOMAIN_SOURCE[r.reason] ?? 'User', Reason: r.detail })),
      ].sort((a, b) => ORDER.indexOf(a.Scope) - ORDER.indexOf(b.Scope));
      Results[email] = { IsSuppressed: matched.length > 0, MatchedScopes: matched, IsPatternSuppressed: await patternSuppressed(ctx.store, e) };
    }
    return {
      ListID: scope.listId ?? 0,
      TotalChecked: valid.length,
      TotalFailed: input.failed.length,
      SuppressionCheckDisabled: false,
      Results,
      FailedEmailAddresses: input.failed,
    };
  },
});
