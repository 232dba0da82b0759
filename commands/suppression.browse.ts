/**
 * suppression.browse — the entries of one scope, exactly (ListID: that list's; absent or 0: the caller's
 * AccountWide list), newest first: SearchPattern (`*` wildcard), SuppressionSource (comma list), StartFrom,
 * RetrieveCount (default 100). SuppressedEmails is a map keyed by address. Errors (array): 1 bad source, 4 bad ListID.
 */
import { defineCommand } from '../src/command';
import { filteredEntries, presentEntry } from '../src/suppression/entries';

export default defineCommand({
  name: 'suppression.browse',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  arrayErrors: true,
  errors: { 1: 'Invalid SuppressionSource value', 4: 'Invalid ListID', 6: 'Invalid paging value (StartFrom 0 or more, RetrieveCount 1-1000)' },
  async run(p, ctx) {
    const { q } = await filteredEntries(ctx, p, 1);
    const [{ n }] = await q.clone().count({ n: '*' });
    const rows = await q
      .orderBy('id', 'desc')
      .limit(Number(p.retrievecount ?? 100))
      .offset(Number(p.startfrom ?? 0));
    const SuppressedEmails: Record<string, unknown> = {};
    for (const r of rows) SuppressedEmails[r.email] = presentEntry(r);
    return { TotalRecords: Number(n), SuppressedEmails };
  },
});
