/** user.senderdomain.dns (GET /api/v1/user.senderdomain.dns) — the records to publish, `{host: {Type, Value, IsVerified}}` (null until probed). Errors: 1, 2. */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain, parseRecords } from '../src/domains/domains';
import { DOMAIN_NOT_FOUND, MISSING_DOMAIN_ID, USER_AREA } from '../src/domains/user-errors';

export default defineCommand({
  name: 'user.senderdomain.dns',
  ...USER_AREA,
  keepsCredentialCaches: true,
  errors: { 1: MISSING_DOMAIN_ID, 2: DOMAIN_NOT_FOUND, 429: 'Too many requests' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const DNSRecords: Record<string, unknown> = {};
    for (const r of parseRecords(row)) DNSRecords[r.host] = { Type: r.type, Value: r.value, IsVerified: r.ok ?? null };
    return { DomainID: Number(row.id), SenderDomain: row.domain, DNSRecords };
  },
});
