/** One event as written by recordEvents (types only, so rollups and the webhook outbox need not import the writer). */
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
