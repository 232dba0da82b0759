/**
 * queue.purge — waiting and held deliveries that the selection names end as `failed`, with a `failed` event each
 * (webhooks and statistics see it). Same selection as queue.hold; a delivery being sent right now is left to
 * finish. Replies `{"Purged": n}`. Errors: 1-8 as src/delivery/queue-filter.ts.
 */
import { defineCommand } from '../src/command';
import { QUEUE_ERRORS } from '../src/delivery/queue-filter';
import { purge } from '../src/delivery/queue-control';
import { queueSelection } from '../src/delivery/queue-list';

export default defineCommand({
  name: 'queue.purge',
  auth: 'user',
  adminToo: true,
  permission: 'EmailGateway.ManageDomain',
  errors: QUEUE_ERRORS,
  keepsCredentialCaches: true,
  httpStatus: { 8: 404, 99998: 401, 99999: 403 },
  async run(p, ctx) {
    const f = await queueSelection(p, ctx);
    const who = ctx.user ? `user ${ctx.user.username}` : 'the admin';
    return { Purged: await purge(ctx.db, ctx.config.deleteChunkRows, f, who) };
  },
});
