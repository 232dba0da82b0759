/**
 * The signed-in session: a SessionID from user.login or admin.login, kept in sessionStorage (gone with the
 * tab) and sent in each request body. Never a cookie, so there is nothing for another site to ride on.
 */
export interface Session {
  id: string;
  kind: 'user' | 'admin';
  name: string;
}

const KEY = 'postern.session';
const listeners = new Set<() => void>();

export function currentSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    const s = raw ? (JSON.parse(raw) as Session) : null;
    return s && typeof s.id === 'string' && (s.kind === 'user' || s.kind === 'admin') ? s : null;
  } catch {
    return null;
  }
}

export function setSession(s: Session | null, notice?: string): void {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  if (notice) sessionStorage.setItem(`${KEY}.notice`, notice);
  listeners.forEach((f) => f());
}

/** A message for the sign-in page (why the session ended), read once. */
export function takeNotice(): string | null {
  const n = sessionStorage.getItem(`${KEY}.notice`);
  sessionStorage.removeItem(`${KEY}.notice`);
  return n;
}

export function onSessionChange(f: () => void): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}
