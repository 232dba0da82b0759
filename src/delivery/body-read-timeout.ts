/** Statement time a withheld body's read gets per MiB of its body, beyond DB_QUERY_TIMEOUT_MS. */
export const BODY_READ_MS_PER_MIB = 500;

/** The longest a withheld body's read may take (unless DB_QUERY_TIMEOUT_MS itself is longer). */
export const BODY_READ_MAX_MS = 30_000;

const MIB = 1 << 20;

/**
 * The statement timeout of a withheld body's read (lease-settle.ts readWithheld), from the body's length as its lease
 * group read it. DB_QUERY_TIMEOUT_MS (3 s) is sized for the short statements of the hot path; a 25 MiB body read on
 * a loaded server can take longer than that every time, and each timeout threw the read away, killed it on the server
 * and asked again, until the lease was given back unsent. So the read gets `baseMs` plus BODY_READ_MS_PER_MIB for
 * each MiB begun (25 MiB: 3 s + 12.5 s), at most BODY_READ_MAX_MS: a server that cannot send 25 MiB in that time
 * is not answering, and the lease goes back to waiting as before. `baseMs` 0 (no statement timeout) stays 0.
 */
export function bodyReadTimeoutMs(baseMs: number, bytes: number): number {
  if (baseMs <= 0) return 0;
  const grown = baseMs + Math.ceil(Math.max(0, bytes) / MIB) * BODY_READ_MS_PER_MIB;
  return Math.min(grown, Math.max(baseMs, BODY_READ_MAX_MS));
}
