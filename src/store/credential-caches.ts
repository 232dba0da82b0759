import { LRUCache } from 'lru-cache';
import type { AccountKeyScope, DomainRow, UserRow } from '../model';

/** Most entries each cache holds: the least recently used goes first. */
export const MAX_ENTRIES = 10_000;

/** A bounded cache whose entries live `ttlMs` (SENDER_AUTH_CACHE_MS); with 0 it keeps nothing. */
export class AuthCache<T extends object> {
  private readonly lru: LRUCache<string, T> | null;
  constructor(ttlMs: number, max = MAX_ENTRIES) {
    this.lru = ttlMs > 0 ? new LRUCache<string, T>({ max, ttl: ttlMs }) : null;
  }
  get(key: string): T | undefined {
    return this.lru?.get(key);
  }
  set(key: string, value: T): void {
    this.lru?.set(key, value);
  }
  get size(): number {
    return this.lru?.size ?? 0;
  }
  /** Runs after every management command: lru-cache's clear() rewrites all `max` slots even when it holds nothing. */
  clear(): void {
    if (this.lru?.size) this.lru.clear();
  }
}

export interface CachedSender {
  keyId: number;
  user: UserRow;
  domain: DomainRow;
}

export interface CachedSmtpIdentity {
  smtpId: number;
  user: UserRow;
  domain: DomainRow;
}

export interface CachedAccountKey {
  scope: AccountKeyScope;
  userId: number;
}

/** Uses of an account key not yet written to its RequestCount/LastUsedAt. */
export interface PendingUses {
  n: number;
  ip: string;
  since: number;
}

/**
 * Credential lookups kept for SENDER_AUTH_CACHE_MS, so a busy credential does not cost its queries on every use:
 * sender keys, the SMTP front's AUTH and trusted-client identities, account keys and the domains their From
 * addresses name. `forgetAll` runs after every management command (src/dispatch.ts: a key revoked, an account
 * disabled, a domain changed), so this process sees such a change at once; other processes within the TTL.
 * Also the per-key write throttles (last use written at most once a minute per key), which outlive `forgetAll`.
 */
export class CredentialCaches {
  readonly senders: AuthCache<CachedSender>;
  readonly smtpIdentities: AuthCache<CachedSmtpIdentity>;
  readonly accountKeys: AuthCache<CachedAccountKey>;
  readonly accountDomains: AuthCache<DomainRow>;
  /** When this process last wrote each sender key's last_used_at. */
  readonly senderKeyTouches = new LRUCache<number, number>({ max: MAX_ENTRIES });
  /** Account-key uses counted since the key's row was last written. */
  readonly accountKeyUses = new LRUCache<number, PendingUses>({ max: MAX_ENTRIES });

  constructor(ttlMs: number, max = MAX_ENTRIES) {
    this.senders = new AuthCache(ttlMs, max);
    this.smtpIdentities = new AuthCache(ttlMs, max);
    this.accountKeys = new AuthCache(ttlMs, max);
    this.accountDomains = new AuthCache(ttlMs, max);
  }

  forgetAll(): void {
    this.senders.clear();
    this.smtpIdentities.clear();
    this.accountKeys.clear();
    this.accountDomains.clear();
  }
}
