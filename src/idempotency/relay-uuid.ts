/**
 * emailgateway.smtprelay's `UUID`: the front's id for one message. A front that lost our answer (its HTTP call timed
 * out, a proxy dropped the connection) calls again with the same UUID; queueing the message twice would deliver it
 * twice. So a UUID is an idempotency key (src/idempotency/keys.ts) per SMTP login: the same UUID and message replay
 * the first answer for 24 h, and a call while the first still runs is told to retry shortly.
 *
 * What is stored is the answer without the credentials it echoes (SMTPPassword must never be kept at rest); the
 * caller adds them back on a replay.
 */
import type { Knex } from 'knex';
import { claimKey, IDEMPOTENCY_TTL_MS, idempotencyHashes } from './keys';
import type { Claim } from './keys';

/** Longer UUIDs are not a front's message id: such a call is taken without a key, as upstream takes every call. */
export const MAX_RELAY_UUID = 256;

export interface RelayCall {
  /** The id of the SMTP login (smtp_credentials.id) the call authenticated as: UUIDs are scoped to it. */
  smtpId: number;
  uuid: string;
  mailFrom: unknown;
  rcptTo: unknown;
  rawEmail: string;
}

/** Claims the call's UUID, or null when it has none to claim by. */
export async function claimRelayUuid(db: Knex, leaseMs: number, call: RelayCall): Promise<Claim | null> {
  const uuid = call.uuid.trim();
  if (!uuid || uuid.length > MAX_RELAY_UUID) return null;
  const request = { MailFrom: call.mailFrom ?? null, RcptTo: call.rcptTo ?? null, RawEmail: call.rawEmail };
  return claimKey(db, { ...idempotencyHashes(`smtp:${call.smtpId}`, 'emailgateway.smtprelay', uuid, request), leaseMs, ttlMs: IDEMPOTENCY_TTL_MS });
}
