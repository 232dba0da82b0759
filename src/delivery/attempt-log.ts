import type { Logger } from '../logger';

/** Addresses a remote reply may quote (`550 5.1.1 <jane@example.org>: unknown user`) keep only their domain. */
export function maskAddresses(text: string): string {
  return text.replace(/[^\s<>"'(),;:[\]]+@(\[[0-9a-f.:]+\]|[a-z0-9-]+(?:\.[a-z0-9-]+)+)/gi, '…@$1');
}

export interface AttemptFacts {
  messageId: string;
  deliveryId: number;
  recipient: string;
  /** 1 for the first attempt. */
  attempt: number;
  outcome: 'delivered' | 'deferred' | 'bounced' | 'failed';
  reply: string;
  /** Unix ms of the next attempt (deferred only). */
  nextRetryAt?: number | null;
  /** The local address an MX hop was made from, when a sending IP pool chose it. */
  source?: string;
}

/**
 * One JSON line per delivery attempt, at info level, without the full address (the recipient's domain only,
 * also inside the reply). At LOG_LEVEL=debug the line carries the recipient too, for tracing one address.
 */
export function logAttempt(logger: Logger, f: AttemptFacts): void {
  // winston builds and pipes a line before its level drops it: at LOG_LEVEL=warn that was 1 % of a worker's CPU.
  if (!logger.isInfoEnabled()) return;
  const line: Record<string, unknown> = {
    messageId: f.messageId,
    deliveryId: f.deliveryId,
    recipientDomain: (f.recipient.split('@').pop() ?? '').toLowerCase(),
    outcome: f.outcome,
    // Bounded first: the masking pattern tries every start position, so its cost grows with the square of the length.
    reply: maskAddresses(f.reply.slice(0, 1000)),
    attempt: f.attempt,
    nextRetryAt: f.nextRetryAt ? new Date(f.nextRetryAt).toISOString() : null,
  };
  if (f.source) line.source = f.source;
  if (logger.isDebugEnabled()) line.recipient = f.recipient;
  logger.info('delivery attempt', line);
}
