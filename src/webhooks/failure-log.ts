import { LRUCache } from 'lru-cache';
import type { Logger } from '../logger';
import { logFailedCall } from './shown-error';

/** At most one `webhook call failed` line per webhook in this long: a dead endpoint with a backlog fails every call. */
export const FAILURE_LOG_INTERVAL_MS = 60_000;
/** Webhooks whose last line is remembered; one pushed out logs its next failure at once, as a first one. */
const REMEMBERED_WEBHOOKS = 10_000;

export interface CallFailureLog {
  /** One call of `webhookId` that got no HTTP answer: logged, or counted into the webhook's next line. */
  failed(url: string, fields: { webhookId: number; deliveryId: number; attempt: number; reason: string | null }): void;
}

/**
 * The worker's `webhook call failed` lines, per webhook: its first failure, then at most one line per `intervalMs`,
 * whose `suppressed` says how many failed calls went unlogged since the line before (they are in the attempt log and
 * the metrics). The count rides the next failure's line: a webhook that stops failing writes no summary.
 */
export function callFailureLog(logger: Logger, intervalMs = FAILURE_LOG_INTERVAL_MS): CallFailureLog {
  const last = new LRUCache<number, { at: number; suppressed: number }>({ max: REMEMBERED_WEBHOOKS });
  return {
    failed(url, fields) {
      const now = Date.now();
      const seen = last.get(fields.webhookId);
      if (seen && now - seen.at < intervalMs) {
        seen.suppressed += 1;
        return;
      }
      logFailedCall(logger, 'webhook call failed', url, seen?.suppressed ? { ...fields, suppressed: seen.suppressed } : fields);
      last.set(fields.webhookId, { at: now, suppressed: 0 });
    },
  };
}
