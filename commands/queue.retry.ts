/**
 * queue.retry — queued and deferred deliveries are tried again now: one (DeliveryID), those a filter names
 * (DomainID, SenderDomain, RecipientDomain, MinAgeSeconds, MaxAgeSeconds, UserID for the admin), or all (All=true).
 * Scheduled, held and leased ones are left as they are. Replies `{"Retried": n}`.
 * Errors: 1-8 as src/delivery/queue-filter.ts (8: the DeliveryID is not one of the caller's deliveries).
 */
import { defineCommand } from '../src/command';
import { QUEUE_ERRORS } from '../src/delivery/queue-filter';
import { retryNow } from '../src/delivery/queue-control';
import { queueSelection } from '../src/delivery/queue-list';

export default defineCommand({
  name: 'queue.retry',
  auth: 'user',
  adminToo: true,
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: QUEUE_ERRORS,
  httpStatus: { 8: 404, 99998: 401, 99999: 403 },
  async run(p, ctx) {
    const f = await queueSelection(p, ctx);
    return { Retried: await retryNow(ctx, f) };
  },
});
