/** suppression.patterns.get (admin) — the install's suppression patterns (see suppression.patterns.set). No business errors. */
import { defineCommand } from '../src/command';

export default defineCommand({
  name: 'suppression.patterns.get',
  auth: 'admin',
  keepsCredentialCaches: true,
  errors: {},
  async run(_p, ctx) {
    const rows: { kind: string; pattern: string }[] = await ctx.db('suppression_patterns').orderBy('id').select('kind', 'pattern');
    return { Patterns: rows.map((r) => ({ Type: r.kind, Pattern: r.pattern })) };
  },
});
