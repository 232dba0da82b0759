import crypto, { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * Parsed DKIM private keys, one per domain and selector. Handing PEM text to `crypto.sign` re-parses the key on
 * every signature (about 3× the RSA operation itself on a 2048-bit key, issue 15); a `KeyObject` parsed once
 * gives the same bytes (RSASSA-PKCS1-v1_5 is deterministic) for a fraction of the CPU.
 *
 * An entry remembers the PEM it came from and is replaced when the PEM for its domain and selector differs, so a
 * changed key is never signed with the old one. Each version gets a fresh `id`: the signing threads cache their
 * own parsed copies under that id (see dkim-pool.ts), so a new version can never hit an old thread entry.
 * Bounded (LRU) so a worker serving many domains holds at most `max` parsed keys.
 */
export interface CachedKey {
  /** Unique per (domain, selector, PEM) version within this cache. */
  readonly id: number;
  readonly pem: string;
  /** Parsed on first use in this thread; the pool path never needs it here. */
  keyObject(): KeyObject;
}

export const DKIM_KEY_CACHE_MAX = 1000;

export class DkimKeyCache {
  private readonly entries: LRUCache<string, CachedKey>;
  private seq = 0;

  constructor(readonly max = DKIM_KEY_CACHE_MAX) {
    this.entries = new LRUCache({ max });
  }

  /** The cache entry for this key, a new one when the domain's PEM is not the one cached. */
  get(key: { domainName: string; keySelector: string; privateKey: string }): CachedKey {
    // Domain names and selectors hold no NUL (DNS labels), so the pair cannot collide with another.
    const name = `${key.domainName}\0${key.keySelector}`;
    const hit = this.entries.get(name);
    if (hit && hit.pem === key.privateKey) return hit;
    const entry = cachedKey(++this.seq, key.privateKey);
    this.entries.set(name, entry);
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }
}

function cachedKey(id: number, pem: string): CachedKey {
  let parsed: KeyObject | undefined;
  return {
    id,
    pem,
    // A PEM that does not parse throws each time it is asked for (nothing is cached for it); the signer turns
    // that into the domain's signing error.
    keyObject: () => (parsed ??= crypto.createPrivateKey(pem)),
  };
}
