import { currentSession, setSession } from './session';

/** A failed command: the API's own code and text, shown to the user as the API wrote it. */
export class ApiError extends Error {
  constructor(
    readonly code: unknown,
    message: string,
  ) {
    super(message);
  }
}

type Reply = Record<string, any>;

/** The API's "authentication failed": the SessionID is unknown, expired or revoked (or its account is disabled). */
export const SESSION_GONE = 99998;

function errorText(r: Reply, status: number): string {
  const text = Array.isArray(r.ErrorText) ? r.ErrorText.join('; ') : r.ErrorText;
  if (typeof text === 'string' && text) return text;
  if (Array.isArray(r.Errors) && r.Errors.length) return r.Errors.map((e: { Message?: string }) => e.Message ?? '').join('; ');
  if (typeof r.ErrorMessage === 'string') return r.ErrorMessage;
  return `The request failed (HTTP ${status}, code ${JSON.stringify(r.ErrorCode ?? null)})`;
}

/**
 * Calls one /api.php command as any client would: JSON body with Command and the SessionID. A 99998 (session
 * expired or revoked) signs the console out, with the reason shown on the sign-in page.
 */
export async function call<T extends Reply = Reply>(command: string, params: Record<string, unknown> = {}): Promise<T> {
  const s = currentSession();
  const body: Record<string, unknown> = { Command: command, ...params };
  if (s && body.SessionID === undefined && body.AdminAPIKey === undefined) body.SessionID = s.id;
  let res: Response;
  try {
    res = await fetch('/api.php', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'Postern did not answer: check that it is running and reachable.');
  }
  let reply: Reply;
  try {
    reply = await res.json();
  } catch {
    throw new ApiError(res.status, `Postern answered HTTP ${res.status} without a readable reply.`);
  }
  if (reply.Success === false || (!res.ok && reply.Success !== true)) {
    if (reply.ErrorCode === SESSION_GONE && s && body.SessionID === s.id) {
      setSession(null, 'Your session has ended (signed out elsewhere or idle too long). Please sign in again.');
    }
    throw new ApiError(reply.ErrorCode, errorText(reply, res.status));
  }
  return reply as T;
}
