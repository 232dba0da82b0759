/**
 * users.get (admin) — page through users; RecordsPerRequest 0 = all (capped at 1000), Search matches username, email or
 * name. Each with DeletionStartedAt: when an unfinished user.delete of it began (src/domains/deleting.ts), else null.
 */
import { defineCommand } from '../src/command';
import { containsPattern } from '../src/db';
import { presentUserForAdmin } from '../src/accounts/admin-view';

export default defineCommand({
  name: 'users.get',
  auth: 'admin',
  errors: { 1: 'Invalid RecordsPerRequest (0-1000)', 2: 'Invalid RecordsFrom', 3: 'Invalid Search', 4: 'Invalid AccountStatus (Enabled or Disabled)' },
  async run(p, ctx) {
    const q = ctx.db('users');
    if (p.accountstatus) q.where({ account_status: p.accountstatus });
    if (p.search) {
      const like = containsPattern(String(p.search));
      q.where((w) => {
        for (const col of ['username', 'email_address', 'first_name', 'last_name', 'company_name']) w.orWhereRaw(`${col} like ? escape '!'`, [like]);
      });
    }
    const [{ n }] = await q.clone().count({ n: '*' });
    const perRequest = Number(p.recordsperrequest) || 1000;
    const rows = await q.orderBy('id').limit(perRequest).offset(Number(p.recordsfrom));
    return { TotalUserCount: Number(n), Users: rows.map(presentUserForAdmin) };
  },
});
