/**
 * queue.list — unfinished deliveries (State: deferred by default; queued, scheduled, held, leased, all) with the last
 * remote reply and the next attempt time, filtered by DeliveryID, DomainID, SenderDomain, RecipientDomain,
 * MinAgeSeconds / MaxAgeSeconds (and UserID for the admin); paged (Page, Limit ≤ 100). A user sees their own, the
 * admin every user's. Errors: 1-8 as src/delivery/queue-filter.ts, 9 invalid State, 10 invalid Page or Limit.
 */
import { defineCommand } from '../src/command';
import { QUEUE_ERRORS, queueFilterOf } from '../src/delivery/queue-filter';
import { listQueue } from '../src/delivery/queue-list';

export default defineCommand({
  name: 'queue.list',
  auth: 'user',
  adminToo: true,
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: { ...QUEUE_ERRORS, 9: 'Invalid State (deferred, queued, scheduled, held, leased or all)', 10: 'Invalid Page or Limit' },
  httpStatus: { 99998: 401, 99999: 403 },
  async run(p, ctx) {
    const f = queueFilterOf(p, ctx);
    return listQueue(ctx.db, f, typeof p.state === 'string' ? p.state : 'deferred', Number(p.page ?? 1), Number(p.limit ?? 20));
  },
});
