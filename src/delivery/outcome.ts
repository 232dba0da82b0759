/** What one send attempt to the next hop (or to the capture store) came to. */
export type SendOutcome = { ok: true; response: string } | { ok: false; code?: number; response: string };
