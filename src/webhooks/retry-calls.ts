import type { CommandContext } from '../command';
import { CommandError } from '../errors';

/** Failed calls one request queues again: each is a row update, and a request must answer in seconds. */
export const RETRY_CALLS_MAX = 10_000;
/** Rows per UPDATE (ids as bound parameters; SQLite allows 999 per statement). */
const CHUNK = 500;

/**
 * Queues a webhook's failed calls again once its receiver is mended, oldest first (by their last attempt: the order
 * of the (webhook_id, status, next_attempt_at) index, so a chunk is read without sorting every failed row): the calls
 * given up after WEBHOOK_MAX_AGE_SECONDS, refused, or failed because the webhook was disabled after
 * WEBHOOK_MAX_FAILURES. A Disabled webhook is enabled again (as adding the same event and URL does), else the worker
 * would fail them again at once. Each call keeps its `webhook-id` and body, so a receiver that saw one already drops it; its attempts start
 * again from the first retry delay, and its age from now. Delivered calls are never sent twice, and failed rows are
 * kept only as long as the outbox keeps finished rows (7 days). At most RETRY_CALLS_MAX per request: `More` says
 * whether failed calls remain.
 */
export async function retryFailedCalls(
  ctx: CommandContext,
  domainId: number,
  webhookId: unknown,
  notFound: number,
): Promise<{ Requeued: number; More: boolean; Enabled: boolean }> {
  const id = Number(webhookId);
  // Signed with the domain's key (secret_enc null): the webhooks these doors manage, as getwebhooklog reads.
  const hook: { id: number; status: string } | undefined = await ctx
    .db('webhooks')
    .where({ id, domain_id: domainId })
    .whereNull('secret_enc')
    .first('id', 'status');
  if (!hook) throw new CommandError(notFound);
  const now = Date.now();
  // Enabled first, even with nothing to retry: the owner says the receiver is mended.
  const enabled =
    hook.status !== 'Enabled' &&
    (await ctx
      .db('webhooks')
      .where({ id })
      .whereNot('status', 'Enabled')
      .update({ status: 'Enabled', consecutive_failures: 0, disabled_reason: null, disabled_at: null, updated_at: now })) > 0;
  if (enabled) ctx.logger.info('webhook.enabled', { webhookId: id, domainId, by: 'retry' });
  let requeued = 0;
  for (;;) {
    const ids = (
      (await ctx
        .db('webhook_deliveries')
        .where({ webhook_id: id, status: 'failed' })
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(Math.min(CHUNK, RETRY_CALLS_MAX - requeued))
        .pluck('id')) as unknown[]
    ).map(Number);
    if (!ids.length) break;
    const at = Date.now();
    // Still failed: a second retry running beside this one takes each row once.
    requeued += await ctx
      .db('webhook_deliveries')
      .whereIn('id', ids)
      .where('status', 'failed')
      .update({ status: 'pending', attempts: 0, next_attempt_at: at, lease_until: null, lease_owner: null, created_at: at, updated_at: at });
    if (ids.length < CHUNK || requeued >= RETRY_CALLS_MAX) break;
    await new Promise((r) => setImmediate(r)); // the embedded store's statements are synchronous: let requests in
  }
  const more = requeued >= RETRY_CALLS_MAX && Boolean(await ctx.db('webhook_deliveries').where({ webhook_id: id, status: 'failed' }).first('id'));
  return { Requeued: requeued, More: more, Enabled: enabled };
}
