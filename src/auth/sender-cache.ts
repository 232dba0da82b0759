import type { UserRow } from '../model';
import type { DomainRow } from '../model';

const MAX_ENTRIES = 10_000;
const caches: AuthCache<unknown>[] = [];

/**
 * Credential lookups kept for SENDER_AUTH_CACHE_MS (sender keys here; the SMTP front's AUTH and trusted-client
 * identities in src/smtp/credentials.ts), so a busy credential does not cost its queries on every use. This
 * process forgets every cache whenever a management command runs (a key revoked, an account disabled, a domain
 * changed); other processes see such a change within the TTL.
 */
export class AuthCache<T> {
  private readonly map = new Map<string, { value: T; until: number }>();
  constructor() {
    caches.push(this);
  }
  get(key: string): T | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.until < Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }
  set(key: string, value: T, ttlMs: number): void {
    if (ttlMs <= 0) return;
    if (this.map.size >= MAX_ENTRIES) this.map.clear();
    this.map.set(key, { value, until: Date.now() + ttlMs });
  }
  clear(): void {
    this.map.clear();
  }
}

interface Sender {
  keyId: number;
  user: UserRow;
  domain: DomainRow;
}

const senders = new AuthCache<Sender>();

export function cachedSender(keyHash: string): Sender | undefined {
  return senders.get(keyHash);
}

export function rememberSender(keyHash: string, e: Sender, ttlMs: number): void {
  senders.set(keyHash, e, ttlMs);
}

export function forgetSenders(): void {
  for (const c of caches) c.clear();
}
