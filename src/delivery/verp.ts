import crypto from 'node:crypto';
import type { Services } from '../command';
import { derivedKeys } from '../auth/secrets';

/** The key VERP tags are made with, derived from ENCRYPTION_KEY so every process of an install agrees. */
export function verpSecret(services: Services): Buffer {
  return derivedKeys({ encryptionKey: services.config.encryptionKey, previousEncryptionKeys: [] }, 'postern-verp')[0];
}

/** The keys a bounce's VERP tag is checked against: the current one, then each ENCRYPTION_KEY_PREVIOUS's (a rotation). */
export function verpSecrets(services: Services): Buffer[] {
  return derivedKeys(services.config, 'postern-verp');
}

/**
 * The envelope sender of a delivery: `b-<deliveryId>-<tag>@<mfrom host>`. The tag is an HMAC of the id, so a
 * bounce can be mapped back to its delivery and a forged address for some other delivery is refused.
 */
function tag(secret: Buffer, deliveryId: number): string {
  return crypto
    .createHmac('sha256', secret)
    .update(`verp:${deliveryId}`)
    .digest('base64url')
    .slice(0, 10)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x');
}

export function verpAddress(secret: Buffer, deliveryId: number, mfromHost: string): string {
  return `b-${deliveryId}-${tag(secret, deliveryId)}@${mfromHost}`;
}

/** The delivery id a VERP address names, or null when it is not one of ours. */
export function parseVerp(secrets: readonly Buffer[], address: string): number | null {
  const m = /^b-(\d{1,18})-([a-z0-9]{10})@/i.exec(address.trim());
  if (!m) return null;
  const id = Number(m[1]);
  const given = Buffer.from(m[2].toLowerCase());
  return secrets.some((secret) => crypto.timingSafeEqual(Buffer.from(tag(secret, id)), given)) ? id : null;
}
