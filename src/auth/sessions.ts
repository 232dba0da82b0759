import type { Db } from '../db';
import { randomToken, sha256hex } from './secrets';

export type SessionKind = 'user' | 'admin';

/** Touching a session rewrites its row at most this often, so a busy client is not a write per call. */
const TOUCH_EVERY_MS = 30_000;

/** `apiKeyId`: the user API key the session was opened with (user.login APIKey=…); the session keeps to its scope. */
export async function createSession(db: Db, kind: SessionKind, subjectId: number, apiKeyId: number | null = null): Promise<string> {
  const token = randomToken(32);
  const now = Date.now();
  await db('sessions').insert({ token_hash: sha256hex(token), kind, subject_id: subjectId, api_key_id: apiKeyId, created_at: now, last_seen_at: now });
  return token;
}

/** How long sessions last: idle (since the last call) and at most (since sign-in, however active). */
export interface SessionLimits {
  sessionIdleSeconds: number;
  sessionMaxSeconds: number;
}

/**
 * The session's subject if it exists, is of the wanted kind, has not been idle too long and is not older than the
 * maximum: an open console tab polls every few seconds, so idle expiry alone would keep it signed in for ever.
 */
export async function resumeSession(
  db: Db,
  token: string,
  kind: SessionKind,
  limits: SessionLimits,
): Promise<{ subjectId: number; hash: string; apiKeyId: number | null } | null> {
  const hash = sha256hex(token);
  const row = await db('sessions').where({ token_hash: hash }).first();
  if (!row || row.kind !== kind) return null;
  const now = Date.now();
  if (Number(row.last_seen_at) + limits.sessionIdleSeconds * 1000 < now || Number(row.created_at) + limits.sessionMaxSeconds * 1000 < now) {
    await db('sessions').where({ token_hash: hash }).delete();
    return null;
  }
  if (now - Number(row.last_seen_at) > TOUCH_EVERY_MS) {
    await db('sessions').where({ token_hash: hash }).update({ last_seen_at: now });
  }
  return { subjectId: Number(row.subject_id), hash, apiKeyId: row.api_key_id == null ? null : Number(row.api_key_id) };
}

export async function endSession(db: Db, hash: string): Promise<void> {
  await db('sessions').where({ token_hash: hash }).delete();
}

export async function endSubjectSessions(db: Db, kind: SessionKind, subjectId: number): Promise<void> {
  await db('sessions').where({ kind, subject_id: subjectId }).delete();
}

/** Drops sessions idle or alive past the limits; run periodically so the table does not grow without bound. */
export async function purgeIdleSessions(db: Db, limits: SessionLimits): Promise<number> {
  const now = Date.now();
  return db('sessions')
    .where('last_seen_at', '<', now - limits.sessionIdleSeconds * 1000)
    .orWhere('created_at', '<', now - limits.sessionMaxSeconds * 1000)
    .delete();
}
