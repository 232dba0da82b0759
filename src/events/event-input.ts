/** One event as written by recordEvents, and builders of one (no imports, so rollups and the webhook outbox need not import the writer). */
/** One thing that happened to a message or one of its deliveries. `data` is stored as JSON. */
export interface EventInput {
  message_id: string;
  delivery_id: number | null;
  domain_id: number;
  user_id: number;
  /** queued | scheduled | suppressed | deferred | delivered | bounced | failed | cancelled | complained | opened | clicked | unsubscribed */
  type: string;
  created_at: number;
  /** recipient (always when there is one), reply, bounce_class, url, user_agent, ip, machine, unique … */
  data: Record<string, unknown>;
}

/** A waiting or held delivery ended `failed` without an attempt (queue.purge, a suspension hold's expiry): its event. */
export function failedWithoutAttempt(
  r: { id: number | string; message_id: string; domain_id: number | string; user_id: number | string; recipient: string; attempts: number | string },
  now: number,
  data: Record<string, unknown>,
): EventInput {
  return {
    message_id: r.message_id,
    delivery_id: Number(r.id),
    domain_id: Number(r.domain_id),
    user_id: Number(r.user_id),
    type: 'failed',
    created_at: now,
    data: { recipient: r.recipient, attempts: Number(r.attempts), ...data },
  };
}

/** A delivery cancelled unsent (cancelDeliveries, or a worker that leased one of a cancelled campaign): its event. */
export function cancelledUnsent(
  r: { id: number | string; message_id: string; domain_id: number | string; user_id: number | string; recipient: string },
  now: number,
): EventInput {
  return {
    message_id: r.message_id,
    delivery_id: Number(r.id),
    domain_id: Number(r.domain_id),
    user_id: Number(r.user_id),
    type: 'cancelled',
    created_at: now,
    data: { recipient: r.recipient },
  };
}
