/**
 * suppression.patterns.set (admin) — replace the install's suppression patterns: `Patterns: [{Type, Pattern}]` with
 * Type REGEXP, NOT REGEXP or STRPOS (`*` wildcard, case-sensitive), Pattern at most 200 characters. Gateway and
 * transactional sends skip a matching address; campaigns do not (as upstream). Errors (array): 1 Patterns missing,
 * 2 a bad Type, 3 a bad Pattern (empty, too long, or not a regular expression V8's linear-time engine can run:
 * backreferences and lookaround are refused, so no pattern can stall a send; src/suppression/linear-regexp.ts).
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { linearRegExp } from '../src/suppression/linear-regexp';

const TYPES = ['REGEXP', 'NOT REGEXP', 'STRPOS'];

export default defineCommand({
  name: 'suppression.patterns.set',
  auth: 'admin',
  arrayErrors: true,
  errors: {
    1: 'Missing Patterns: send an array of {Type, Pattern}',
    2: 'Type must be REGEXP, NOT REGEXP or STRPOS',
    3: 'Pattern must be 1-200 characters and, for REGEXP types, a valid regular expression without backreferences or lookaround (patterns run in linear time)',
  },
  async run(p, ctx) {
    if (!Array.isArray(p.patterns)) throw new CommandError([1]);
    const rows = (p.patterns as Record<string, unknown>[]).map((x) => ({ kind: String(x?.type ?? '').toUpperCase(), pattern: String(x?.pattern ?? '') }));
    const codes = new Set<number>();
    for (const r of rows) {
      if (!TYPES.includes(r.kind)) codes.add(2);
      if (!r.pattern || r.pattern.length > 200) codes.add(3);
      else if (r.kind !== 'STRPOS') {
        try {
          linearRegExp(r.pattern);
        } catch {
          codes.add(3);
        }
      }
    }
    if (codes.size) throw new CommandError([...codes].sort());
    const now = Date.now();
    await ctx.db.transaction(async (trx) => {
      await trx('suppression_patterns').delete();
      if (rows.length) await trx('suppression_patterns').insert(rows.map((r) => ({ ...r, created_at: now })));
    });
    ctx.store.suppressionPatterns.forget();
    return { Patterns: rows.map((r) => ({ Type: r.kind, Pattern: r.pattern })) };
  },
});
