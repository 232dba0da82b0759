/** user.senderdomain.list (GET /api/v1/user.senderdomains) — the caller's sender domains with their operational figures. No business errors. */
import { defineCommand } from '../src/command';
import { USER_AREA } from '../src/domains/user-errors';
import type { DomainRow } from '../src/domains/domains';
import { operationalFigures, presentUserDomain } from '../src/domains/user-present';

export default defineCommand({
  name: 'user.senderdomain.list',
  ...USER_AREA,
  keepsCredentialCaches: true,
  errors: { 429: 'Too many requests' },
  async run(_p, ctx) {
    const rows: DomainRow[] = await ctx.db('sender_domains').where({ user_id: ctx.user!.id }).orderBy('id');
    const ops = await operationalFigures(
      ctx.db,
      rows.map((r) => Number(r.id)),
    );
    return { SenderDomains: rows.map((r) => presentUserDomain(r, ops.get(Number(r.id)))) };
  },
});
