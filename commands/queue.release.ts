/**
 * queue.release — held deliveries go back to the state they were held from; those due go out at once. The time
 * held does not count towards DELIVERY_MAX_AGE_SECONDS. Same selection as queue.hold. Replies `{"Released": n}`.
 * Errors: 1-8 as src/delivery/queue-filter.ts.
 */
import { defineCommand } from '../src/command';
import { QUEUE_ERRORS } from '../src/delivery/queue-filter';
import { release } from '../src/delivery/queue-control';
import { queueSelection } from '../src/delivery/queue-list';

export default defineCommand({
  name: 'queue.release',
  auth: 'user',
  adminToo: true,
  permission: 'EmailGateway.ManageDomain',
  keepsCredentialCaches: true,
  errors: QUEUE_ERRORS,
  httpStatus: { 8: 404, 99998: 401, 99999: 403 },
  async run(p, ctx) {
    const f = await queueSelection(p, ctx);
    return { Released: await release(ctx, f) };
  },
});
