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

type UnsentDelivery = { id: number | string; message_id: string; domain_id: number | string; user_id: number | string; recipient: string };

/** The event of a delivery that ended without an attempt: its ids, the type, and its recipient beside `data`. */
function unsentEvent(r: UnsentDelivery, type: string, now: number, data: Record<string, unknown>): EventInput {
  return {
    message_id: r.message_id,
    delivery_id: Number(r.id),
    domain_id: Number(r.domain_id),
    user_id: Number(r.user_id),
    type,
    created_at: now,
    data: { recipient: r.recipient, ...data },
  };
}

/** A waiting or held delivery ended `failed` without an attempt (queue.purge, a hold's expiry): its event. */
export function failedWithoutAttempt(r: UnsentDelivery & { attempts: number | string }, now: number, data: Record<string, unknown>): EventInput {
  return unsentEvent(r, 'failed', now, { attempts: Number(r.attempts), ...data });
}

/** A delivery cancelled unsent (cancelDeliveries, or a worker that leased one of a cancelled campaign): its event. */
export function cancelledUnsent(r: UnsentDelivery, now: number): EventInput {
  return unsentEvent(r, 'cancelled', now, {});
}
