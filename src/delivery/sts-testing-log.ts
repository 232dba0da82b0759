import { LRUCache } from 'lru-cache';
import type { Logger } from 'winston';
import type { StsWouldHold } from './mx-route';
import type { TransportObserver } from './transports';

/** One warning per recipient domain per hour: a busy domain's every message would otherwise log the same finding. */
const QUIET_MS = 3_600_000;

/**
 * The transports' observer (the metrics) with a warning for what a recipient domain's MTA-STS testing policy would
 * have held: the metric says how often, the log says which domain, MX host and why, so an operator (or the domain's
 * owner, asking) can tell before the domain moves to enforce. Postern sends no TLS-RPT reports.
 */
export function withStsTestingLog(metrics: TransportObserver, logger: Logger): TransportObserver {
  const logged = new LRUCache<string, true>({ max: 10_000, ttl: QUIET_MS });
  return {
    dkimSign: (seconds) => metrics.dkimSign(seconds),
    remoteReply: (domain, code) => metrics.remoteReply(domain, code),
    sentFrom: (pool, source, code) => metrics.sentFrom(pool, source, code),
    mtaSts(mode, result, wouldHold?: StsWouldHold) {
      metrics.mtaSts(mode, result, wouldHold);
      if (!wouldHold || logged.has(wouldHold.domain)) return;
      logged.set(wouldHold.domain, true);
      logger.warn('MTA-STS testing policy would have held this delivery (sent anyway; next warning for the domain in an hour at most)', {
        domain: wouldHold.domain,
        mx: wouldHold.host,
        reasons: wouldHold.reasons,
      });
    },
  };
}
