/**
 * emailgateway.getdomain — one sender domain of the caller with its DNS records, the DNS watch's findings and its
 * latest domain events (docs/dns-watch-and-dkim-rotation.md). Errors: 1 missing DomainID, 2 not found/denied.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { findOwnedDomain, presentDomain } from '../src/domains/domains';
import { recentDomainEvents } from '../src/domains/domain-events';
import { formatTime } from '../src/auth/users';

export default defineCommand({
  name: 'emailgateway.getdomain',
  auth: 'user',
  permission: 'EmailGateway.ManageDomain',
  errors: { 1: 'Missing required parameter (DomainID)', 2: 'Domain not found or access denied' },
  async run(p, ctx) {
    const row = await findOwnedDomain(ctx.db, ctx.user!.id, p.domainid);
    if (!row) throw new CommandError(2);
    const events = await recentDomainEvents(ctx.db, Number(row.id), 10);
    return { Domain: { ...presentDomain(row, ctx.config), DomainEvents: events.map((e) => ({ Event: e.type, At: formatTime(e.created_at), Data: e.data })) } };
  },
});
