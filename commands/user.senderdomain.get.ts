/** user.senderdomain.get (GET /api/v1/user.senderdomain) — one domain; `days` (1–365, default 30) adds per-day Stats. Errors: 1 missing DomainID, 2 not found (another user's too). */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain } from '../src/domains/domains';
import { dailyStats, operationalFigures, presentUserDomain } from '../src/domains/user-present';
import { DOMAIN_NOT_FOUND, MISSING_DOMAIN_ID, USER_AREA } from '../src/domains/user-errors';

export default defineCommand({
  name: 'user.senderdomain.get',
  ...USER_AREA,
  keepsCredentialCaches: true,
  errors: { 1: MISSING_DOMAIN_ID, 2: DOMAIN_NOT_FOUND, 429: 'Too many requests' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const ops = await operationalFigures(ctx.db, [Number(row.id)]);
    const out: Record<string, unknown> = { SenderDomain: presentUserDomain(row, ops.get(Number(row.id))) };
    if (p.days !== undefined) {
      const days = Math.min(365, Math.max(1, Math.floor(Number(p.days)) || 30));
      Object.assign(out, { Days: days, Stats: await dailyStats(ctx.db, Number(row.id), days) });
    }
    return out;
  },
});
