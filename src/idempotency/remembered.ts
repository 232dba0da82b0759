/**
 * Which answers an Idempotency-Key remembers (replays for 24 h) when nothing was committed under it. A request's
 * own mistakes (a missing Subject, a bad address, a From off the domain) are remembered: the same request gets the
 * same answer. Answers that depend on state a retry should see change are not, so the same request may be sent
 * again under the same key: a rate limit (429) or the quota (17) that resets, a 5xx, and the account's or domain's
 * state that its owner can fix (credential 1/13, account 2/12/34, domain not activated 32, permission 99998/99999).
 * A batch is judged by every message's errors: one such code among them and the whole answer is not kept.
 */
import { AUTH_FAILED, PERMISSION_DENIED } from '../errors';

const CHANGEABLE = new Set([1, 2, 12, 13, 17, 32, 34, 429, AUTH_FAILED, PERMISSION_DENIED]);

type Errors = { Errors?: { Code?: unknown }[] };

function codes(body: unknown): unknown[] {
  if (!body || typeof body !== 'object') return [];
  const own = (x: Errors) => (Array.isArray(x.Errors) ? x.Errors.map((e) => e?.Code) : []);
  const results = (body as { Results?: unknown }).Results;
  return [...own(body as Errors), ...(Array.isArray(results) ? results.flatMap((r) => (r && typeof r === 'object' ? own(r as Errors) : [])) : [])];
}

/** False for an answer a retry may change (see above). */
export function remembered(reply: { status: number; body: unknown }): boolean {
  if (reply.status === 429 || reply.status >= 500) return false;
  return !codes(reply.body).some((c) => CHANGEABLE.has(Number(c)));
}
