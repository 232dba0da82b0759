import { LRUCache } from 'lru-cache';
import type { Logger } from '../logger';
import { logFailedCall } from './shown-error';

/**
 * At most one failure line per webhook in this long: a dead endpoint with a backlog fails every call, and a test ping
 * can be asked for again and again (a user clicking "test", an API client in a loop).
 */
export const FAILURE_LOG_INTERVAL_MS = 60_000;
/** Webhooks whose last line is remembered; one pushed out logs its next failure at once, as a first one. */
const REMEMBERED_WEBHOOKS = 10_000;

export interface CallFailureLog {
  /** One failed call of `webhookId`: logged, or counted into the webhook's next line. */
  failed(url: string, fields: { webhookId: number } & Record<string, unknown>): void;
}

/**
 * Failure lines (`message`: the worker's `webhook call failed`, the API's `webhook test ping failed`), per webhook:
 * its first failure, then at most one line per `intervalMs`, whose `suppressed` says how many failed calls went
 * unlogged since the line before (they are in the attempt log and the metrics). The count rides the next failure's
 * line: a webhook that stops failing writes no summary.
 */
export function callFailureLog(logger: Logger, intervalMs = FAILURE_LOG_INTERVAL_MS, message = 'webhook call failed'): CallFailureLog {
  const last = new LRUCache<number, { at: number; suppressed: number }>({ max: REMEMBERED_WEBHOOKS });
  return {
    failed(url, fields) {
      const now = Date.now();
      const seen = last.get(fields.webhookId);
      if (seen && now - seen.at < intervalMs) {
        seen.suppressed += 1;
        return;
      }
      logFailedCall(logger, message, url, seen?.suppressed ? { ...fields, suppressed: seen.suppressed } : fields);
      last.set(fields.webhookId, { at: now, suppressed: 0 });
    },
  };
}
