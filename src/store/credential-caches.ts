import { LRUCache } from 'lru-cache';
import type { AccountKeyScope, DomainRow, UserRow } from '../model';

/** Most entries each cache holds: the least recently used goes first. */
export const MAX_ENTRIES = 10_000;

/** A bounded cache whose entries live `ttlMs` (SENDER_AUTH_CACHE_MS); with 0 it keeps nothing. */
export class AuthCache<T extends object> {
  /** Made at the first entry kept: lru-cache fills arrays of `max` slots as it is made, and many processes fill few of these. */
  private lru: LRUCache<string, T> | null = null;
  /** Loads running for a key (see load): concurrent callers share one. */
  private readonly loading = new Map<string, Promise<T | undefined>>();
  /** Bumped by clear(): a load that began before it must not put back what a management command just made stale. */
  private generation = 0;
  constructor(
    private readonly ttlMs: number,
    private readonly max = MAX_ENTRIES,
  ) {}
  private made(): LRUCache<string, T> {
    return (this.lru ??= new LRUCache<string, T>({ max: this.max, ttl: this.ttlMs }));
  }
  get(key: string): T | undefined {
    return this.lru?.get(key);
  }
  set(key: string, value: T): void {
    if (this.ttlMs > 0) this.made().set(key, value);
  }
  get size(): number {
    return this.lru?.size ?? 0;
  }
  /** Runs after every management command: lru-cache's clear() rewrites all `max` slots even when it holds nothing. */
  clear(): void {
    this.generation += 1;
    if (this.lru?.size) this.lru.clear();
  }

  /**
   * The cached value, or what `fetch` finds (undefined or an error: nothing kept, such as an unknown key). Callers that miss
   * at the same time share one fetch, and a hit in the last half of its TTL starts one fetch in the background that
   * replaces the entry (or drops it when the credential is gone or the fetch fails), so a busy credential never expires under load:
   * at 50 connections every request in flight missed at once each second and each ran the lookups, a latency spike
   * at every expiry. An entry is still never served older than the TTL. Not lru-cache's fetch(): it refreshes only
   * after expiry, serving the stale value (allowStale) or making callers wait, not ahead of it.
   */
  load(key: string, fetch: () => Promise<T | undefined>): Promise<T | undefined> {
    if (this.ttlMs <= 0) return fetch();
    const hit = this.lru?.get(key);
    if (hit) {
      if (this.lru!.getRemainingTTL(key) < this.ttlMs / 2 && !this.loading.has(key)) this.fetchOnce(key, fetch).catch(() => undefined);
      return Promise.resolve(hit);
    }
    return this.fetchOnce(key, fetch);
  }

  private fetchOnce(key: string, fetch: () => Promise<T | undefined>): Promise<T | undefined> {
    const running = this.loading.get(key);
    if (running) return running;
    const generation = this.generation;
    const p = fetch().then(
      (value) => {
        this.loading.delete(key);
        if (generation !== this.generation) return value;
        if (value) this.made().set(key, value);
        else this.lru?.delete(key);
        return value;
      },
      (err: unknown) => {
        this.loading.delete(key);
        if (generation === this.generation) this.lru?.delete(key);
        throw err;
      },
    );
    this.loading.set(key, p);
    return p;
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
  private touches: LRUCache<number, number> | null = null;
  private uses: LRUCache<number, PendingUses> | null = null;
  /** When this process last wrote each sender key's last_used_at (made at the first sender key used). */
  get senderKeyTouches(): LRUCache<number, number> {
    return (this.touches ??= new LRUCache({ max: MAX_ENTRIES }));
  }
  /** Account-key uses counted since the key's row was last written (made at the first account key used). */
  get accountKeyUses(): LRUCache<number, PendingUses> {
    return (this.uses ??= new LRUCache({ max: MAX_ENTRIES }));
  }

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
