/**
 * queue.status (admin) — deliveries not finished, by state (Queued, Scheduled, Deferred, Leased, Held), the age of
 * the oldest one waiting for its first attempt, and the recipient domains with the most deferred deliveries.
 * Optional DomainID narrows it to one sender domain. Errors: 1 invalid DomainID, 2 no such domain.
 */
import { defineCommand } from '../src/command';
import { CommandError } from '../src/errors';
import { queueDepth } from '../src/ops/queue-depth';

const TOP_DEFERRED = 10;

export default defineCommand({
  name: 'queue.status',
  auth: 'admin',
  keepsCredentialCaches: true,
  errors: { 1: 'Invalid DomainID', 2: 'Domain not found' },
  httpStatus: { 2: 404, 99998: 401 },
  async run(p, ctx) {
    const domainId = p.domainid === undefined ? undefined : Number(p.domainid);
    if (domainId !== undefined && !(await ctx.db('sender_domains').where({ id: domainId }).first('id'))) throw new CommandError(2);
    const depth = await queueDepth(ctx.db, { domainId });
    // The domain part of the recipient, with one expression MariaDB and SQLite both understand.
    const recipientDomain = ctx.db.raw("lower(substr(recipient, instr(recipient, '@') + 1))");
    // Deferred and not leased again (a stamp makes it Leased: src/delivery/leased.ts).
    const deferred = ctx.db('deliveries').where({ status: 'deferred', lease_until: 0 });
    if (domainId !== undefined) deferred.where({ domain_id: domainId });
    const top = (await deferred.select({ domain: recipientDomain }).count({ n: '*' }).groupBy(recipientDomain).orderBy('n', 'desc').limit(TOP_DEFERRED)) as {
      domain: string;
      n: number | string;
    }[];
    const titled = (s: string) => s[0].toUpperCase() + s.slice(1);
    return {
      Queue: Object.fromEntries(Object.entries(depth.byState).map(([state, n]) => [titled(state), n])),
      OldestQueuedSeconds: depth.oldestQueuedAt === null ? null : Math.max(0, Math.floor((Date.now() - depth.oldestQueuedAt) / 1000)),
      DeferredByRecipientDomain: top.map((r) => ({ Domain: r.domain, Deferred: Number(r.n) })),
    };
  },
});
