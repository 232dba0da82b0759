import type { UserRow } from '../command';
import type { DomainRow } from '../domains/domains';

/**
 * Sender-key lookups (key → account → domain) kept for SENDER_AUTH_CACHE_MS, so a busy key does not cost three
 * queries per request. This process forgets everything whenever a management command runs (a key revoked, an
 * account disabled, a domain changed); other processes see such a change within the TTL.
 */
interface Entry {
  keyId: number;
  user: UserRow;
  domain: DomainRow;
  until: number;
}

const entries = new Map<string, Entry>();
const MAX_ENTRIES = 10_000;

export function cachedSender(keyHash: string): Entry | undefined {
  const e = entries.get(keyHash);
  if (!e) return undefined;
  if (e.until < Date.now()) {
    entries.delete(keyHash);
    return undefined;
  }
  return e;
}

export function rememberSender(keyHash: string, e: Omit<Entry, 'until'>, ttlMs: number): void {
  if (ttlMs <= 0) return;
  if (entries.size >= MAX_ENTRIES) entries.clear();
  entries.set(keyHash, { ...e, until: Date.now() + ttlMs });
}

/**
 * The same kind of short-lived memory for other credential lookups (the SMTP front's AUTH and trusted-client
 * identities), emptied together with the sender keys whenever a management command runs in this process.
 */
export class AuthCache<T> {
  private readonly map = new Map<string, { value: T; until: number }>();
  constructor() {
    others.push(this);
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
const others: AuthCache<unknown>[] = [];

export function forgetSenders(): void {
  entries.clear();
  for (const c of others) c.clear();
}
