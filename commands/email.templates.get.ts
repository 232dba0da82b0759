/**
 * email.templates.get — the caller's templates without their content, paged (RecordsPerRequest 0 = all);
 * Search matches the name. Errors (arrays): 1 invalid RecordsPerRequest, 2 invalid RecordsFrom, 3 invalid Search.
 */
import { defineCommand } from '../src/command';
import { presentTemplate, TemplateRow } from '../src/templates/templates';
import { containsPattern } from '../src/db';

export default defineCommand({
  name: 'email.templates.get',
  auth: 'user',
  permission: 'EmailTemplates.Manage',
  arrayErrors: true,
  errors: { 1: 'Invalid RecordsPerRequest (0-1000, 0 = all)', 2: 'Invalid RecordsFrom', 3: 'Invalid Search' },
  async run(p, ctx) {
    const q = ctx.db('templates').where({ user_id: ctx.user!.id });
    if (p.search) q.whereRaw(`name like ? escape '!'`, [containsPattern(String(p.search))]);
    const [{ n }] = await q.clone().count({ n: '*' });
    const perRequest = Number(p.recordsperrequest ?? 0);
    const rows: TemplateRow[] = await q
      .select('id', 'user_id', 'name', 'description', 'subject', 'created_at', 'updated_at')
      .orderBy('id')
      .limit(perRequest > 0 ? perRequest : 2 ** 31)
      .offset(Number(p.recordsfrom ?? 0));
    return { ErrorText: '', TotalTemplateCount: Number(n), Templates: rows.map((r) => presentTemplate(r, false)) };
  },
});
