/**
 * queue.hold — waiting deliveries (queued, scheduled, deferred) are held: never sent, never expired, until
 * queue.release. Names them by SenderDomain or DomainID, RecipientDomain, DeliveryID, age, UserID (admin), or
 * All=true; one being sent right now is left to finish. Replies `{"Held": n}`. Errors: 1-8 as src/delivery/queue-filter.ts.
 */
import { defineCommand } from '../src/command';
import { QUEUE_ERRORS } from '../src/delivery/queue-filter';
import { hold } from '../src/delivery/queue-control';
import { queueSelection } from '../src/delivery/queue-list';

export default defineCommand({
  name: 'queue.hold',
  auth: 'user',
  adminToo: true,
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: QUEUE_ERRORS,
  httpStatus: { 8: 404, 99998: 401, 99999: 403 },
  async run(p, ctx) {
    const f = await queueSelection(p, ctx);
    return { Held: await hold(ctx.db, ctx.config.deleteChunkRows, f) };
  },
});
