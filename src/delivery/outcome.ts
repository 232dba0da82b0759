import type { SessionTls } from './smtp-pool';

/**
 * What one send attempt to the next hop (or to the capture store) came to. `tls` says how the accepted message
 * crossed the wire (null: in clear); it is absent where no SMTP hop was made (capture mode).
 */
export type SendOutcome = { ok: true; response: string; tls?: SessionTls | null } | { ok: false; code?: number; response: string };
