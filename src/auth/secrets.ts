import crypto from 'node:crypto';
import { promisify } from 'node:util';

/** scrypt as the password functions call it: a PasswordGate may be given another (a test's, to see each check's N). */
export type Scrypt = (pw: crypto.BinaryLike, salt: crypto.BinaryLike, len: number, opts: crypto.ScryptOptions) => Promise<Buffer>;
export const scrypt = promisify(crypto.scrypt) as Scrypt;

/**
 * scrypt cost: N=2^15, r=8, p=1 (about 32 MiB, tens of ms) unless config.passwordHashCost says otherwise (only the
 * test suite may go lower, src/config.ts). Stored with the hash so it can be raised later.
 */
export const DEFAULT_PASSWORD_HASH_COST = 15;
const SCRYPT = { r: 8, p: 1, keylen: 32 };
/** scrypt needs 128·N·r bytes; leave headroom so any cost config accepts (up to 2^17) can be checked. */
const maxmemFor = (N: number) => 2 * 128 * N * SCRYPT.r;

export function randomToken(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** Random string over an alphabet without modulo bias. */
export function randomString(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
  let out = '';
  while (out.length < length) {
    for (const b of crypto.randomBytes(length * 2)) {
      if (b < 256 - (256 % alphabet.length)) out += alphabet[b % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Hash for high-entropy tokens (API keys, session ids, generated SMTP passwords): lookups go by hash. */
export function sha256hex(value: string): string {
  // One call, no Hash object: every sender-key request hashes its key (crypto.hash is Node >= 20.12).
  return typeof crypto.hash === 'function' ? crypto.hash('sha256', value, 'hex') : crypto.createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Compares two strings in time independent of where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const ha = crypto.createHash('sha256').update(a).digest();
  const hb = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(ha, hb) && a.length === b.length;
}

export async function hashPassword(password: string, cost = DEFAULT_PASSWORD_HASH_COST, kdf: Scrypt = scrypt): Promise<string> {
  const salt = crypto.randomBytes(16);
  const N = 2 ** cost;
  const hash = await kdf(password.normalize('NFKC'), salt, SCRYPT.keylen, { N, r: SCRYPT.r, p: SCRYPT.p, maxmem: maxmemFor(N) });
  return `scrypt$${N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string, kdf: Scrypt = scrypt): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  const actual = await kdf(password.normalize('NFKC'), salt, expected.length, { N, r, p, maxmem: 2 * 128 * N * r });
  return crypto.timingSafeEqual(actual, expected);
}

/**
 * Whether a stored hash was made with other parameters than a new one would be (PASSWORD_HASH_COST raised, or a
 * hash from before): a login that proved the password then hashes it again (src/auth/rehash.ts).
 */
export function needsRehash(stored: string, cost = DEFAULT_PASSWORD_HASH_COST): boolean {
  const parts = stored.split('$');
  return !(parts.length === 6 && parts[0] === 'scrypt' && Number(parts[1]) === 2 ** cost && Number(parts[2]) === SCRYPT.r && Number(parts[3]) === SCRYPT.p);
}

/** A hash computed when a login names no known user, so a miss costs as long as a hit (one per cost: a pure memo). */
const dummyHashes = new Map<number, Promise<string>>();
export async function burnPasswordCheck(password: string, cost = DEFAULT_PASSWORD_HASH_COST, kdf: Scrypt = scrypt): Promise<void> {
  let dummy = dummyHashes.get(cost);
  if (!dummy) dummyHashes.set(cost, (dummy = hashPassword(randomToken(12), cost)));
  await verifyPassword(password, await dummy, kdf);
}

/**
 * The costs of the throw-away checks that bring a failed check against `stored` up to one at `cost` (a burn's): a
 * hash made before PASSWORD_HASH_COST was raised checks faster, and a wrong password for its account would answer
 * sooner than an unknown name does, telling the name is taken. scrypt's work grows with N (r and p have never changed),
 * so 2^cost − N is paid as its binary digits: one cost step up is one more check at the stored cost. A hash that is not
 * ours costs nothing to reject, so it is padded by a whole check; one dearer than `cost` is not (it cannot be undone).
 */
export function padCosts(stored: string, cost: number): number[] {
  const parts = stored.split('$');
  const N = parts.length === 6 && parts[0] === 'scrypt' ? Number(parts[1]) || 0 : 0;
  let owed = 2 ** cost - N;
  const costs: number[] = [];
  for (let k = cost; k >= 1 && owed > 0; k--) {
    if (owed >= 2 ** k) {
      costs.push(k);
      owed -= 2 ** k;
    }
  }
  return costs;
}

/** AES-256-GCM; output `v1:<iv>:<tag>:<ciphertext>` in base64. */
export function encrypt(plain: string, key: Buffer): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
}

export function decrypt(sealed: string, key: Buffer): string {
  const [v, iv, tag, ct] = sealed.split(':');
  if (v !== 'v1') throw new Error('unknown ciphertext version');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
}

/** The install's keys: ENCRYPTION_KEY seals, it and ENCRYPTION_KEY_PREVIOUS open (Config is one). */
export interface Keyring {
  encryptionKey: Buffer | null;
  previousEncryptionKeys: readonly Buffer[];
}

/** Seals with the current key. */
export function seal(plain: string, ring: Keyring): string {
  return encrypt(plain, ring.encryptionKey!);
}

/** Which of the ring's keys opens `sealed`: 0 the current one, 1… a previous one, -1 none (GCM's tag tells). */
export function sealedWith(sealed: string, ring: Keyring): number {
  const keys = [ring.encryptionKey!, ...ring.previousEncryptionKeys];
  for (let i = 0; i < keys.length; i++) {
    try {
      decrypt(sealed, keys[i]);
      return i;
    } catch {
      // not this key
    }
  }
  return -1;
}

/** Opens with the current key, else a previous one (a rotation in progress); throws when none opens it. */
export function open(sealed: string, ring: Keyring): string {
  try {
    return decrypt(sealed, ring.encryptionKey!);
  } catch (err) {
    for (const key of ring.previousEncryptionKeys) {
      try {
        return decrypt(sealed, key);
      } catch {
        // not this key
      }
    }
    throw err;
  }
}

/** A key derived from each of the ring's keys for one purpose (tracking tokens, VERP tags), the current one first. */
export function derivedKeys(ring: Keyring, purpose: string): Buffer[] {
  return [ring.encryptionKey!, ...ring.previousEncryptionKeys].map((k) => crypto.createHmac('sha256', k).update(purpose).digest());
}
