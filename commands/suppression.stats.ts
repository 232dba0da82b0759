/** suppression.stats — Total and BySource (all five sources, zero when absent) of one scope (as suppression.browse), with the same filters. Errors (array): 1 bad source, 4 bad ListID. */
import { defineCommand } from '../src/command';
import { filteredEntries } from '../src/suppression/entries';
import { SOURCES } from '../src/suppression/scopes';

export default defineCommand({
  name: 'suppression.stats',
  auth: 'user',
  // The account's suppression lists decide what it may send: the same permission as its domains and keys.
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  arrayErrors: true,
  errors: { 1: 'Invalid SuppressionSource value', 4: 'Invalid ListID' },
  async run(p, ctx) {
    const { q } = await filteredEntries(ctx, p, 1);
    const rows = (await q.groupBy('source').select('source').count({ n: '*' })) as { source: string; n: unknown }[];
    const BySource: Record<string, number> = Object.fromEntries(SOURCES.map((s) => [s, 0]));
    for (const r of rows) BySource[r.source] = Number(r.n);
    return { Total: Object.values(BySource).reduce((a, b) => a + b, 0), BySource };
  },
});
