import crypto from 'node:crypto';
import type { Config } from '../config';
import { derivedKeys, Keyring } from '../auth/secrets';
import { composeHosts, HostSettings } from '../domains/names';

/**
 * Tracking tokens. Every tracked delivery has a random 128-bit `track_id`; a token is that id (plus the link's
 * index for a click) and an HMAC over the kind and the id, so a token cannot be forged, cannot be turned into
 * another kind (an open into a click) and names no address and no URL: click targets stay in `tracked_links`.
 */
export type TokenKind = 'o' | 'c' | 'u';

const SIG_BYTES = 12;

export function trackingSecret(config: Pick<Config, 'encryptionKey'>): Buffer {
  return trackingSecrets({ encryptionKey: config.encryptionKey, previousEncryptionKeys: [] })[0];
}

/** The secrets a token is checked against: the current key's, then each ENCRYPTION_KEY_PREVIOUS's (a rotation). */
export function trackingSecrets(config: Keyring): Buffer[] {
  return derivedKeys(config, 'postern-tracking');
}

export function newTrackId(): string {
  return crypto.randomBytes(16).toString('base64url');
}

/**
 * 128-bit track ids cut from one CSPRNG draw of 4 KiB at a time, as Node pools randomUUID: a draw per accept call
 * cost ~20 µs, 3 % of a single send's CPU (and a batch of 1,000 once made a thousand draws). One pool per Store,
 * built with Services, never a module's.
 */
export class TrackIdPool {
  private pool = Buffer.alloc(0);
  private at = 0;

  next(): string {
    if (this.at + 16 > this.pool.length) {
      this.pool = crypto.randomBytes(4096);
      this.at = 0;
    }
    this.at += 16;
    return this.pool.toString('base64url', this.at - 16, this.at);
  }
}

function sig(secret: Buffer, kind: TokenKind, trackId: string, idx?: number): string {
  return crypto
    .createHmac('sha256', secret)
    .update(`${kind}.${trackId}.${idx ?? ''}`)
    .digest()
    .subarray(0, SIG_BYTES)
    .toString('base64url');
}

export function makeToken(secret: Buffer, kind: TokenKind, trackId: string, idx?: number): string {
  return idx === undefined ? `${trackId}.${sig(secret, kind, trackId)}` : `${trackId}.${idx}.${sig(secret, kind, trackId, idx)}`;
}

const ID = '[A-Za-z0-9_-]{22}';
const SIG = '[A-Za-z0-9_-]{16}';
const PLAIN = new RegExp(`^(${ID})\\.(${SIG})$`);
const INDEXED = new RegExp(`^(${ID})\\.(\\d{1,5})\\.(${SIG})$`);

/** The delivery's track id (and link index for clicks) when the token was made with one of `secrets`, else null. */
export function readToken(secrets: readonly Buffer[], kind: TokenKind, token: string): { trackId: string; idx?: number } | null {
  const m = kind === 'c' ? INDEXED.exec(token) : PLAIN.exec(token);
  if (!m) return null;
  const trackId = m[1];
  const idx = kind === 'c' ? Number(m[2]) : undefined;
  const given = Buffer.from(kind === 'c' ? m[3] : m[2]);
  const genuine = (secret: Buffer) => {
    const want = Buffer.from(sig(secret, kind, trackId, idx));
    return given.length === want.length && crypto.timingSafeEqual(given, want);
  };
  return secrets.some(genuine) ? { trackId, idx } : null;
}

/** `scheme://host` of a domain's tracking links: TRACKING_BASE_URL when set, else the domain's tracking host. */
export function trackingBase(config: Config, domain: HostSettings): string {
  return config.trackingBaseUrl ?? `${config.trackingScheme}://${composeHosts(domain, config).trackingHost}`;
}

export interface TrackingUrls {
  open: string;
  click(idx: number): string;
  unsubscribe: string;
}

/** Each URL's HMAC is made when it is first read: a copy without an unsubscribe link (or pixel) never pays for it. */
export function trackingUrls(secret: Buffer, base: string, trackId: string): TrackingUrls {
  let open: string | undefined;
  let unsubscribe: string | undefined;
  return {
    get open() {
      return (open ??= `${base}/t/o/${makeToken(secret, 'o', trackId)}.gif`);
    },
    click: (idx) => `${base}/t/c/${makeToken(secret, 'c', trackId, idx)}`,
    get unsubscribe() {
      return (unsubscribe ??= `${base}/t/u/${makeToken(secret, 'u', trackId)}`);
    },
  };
}
