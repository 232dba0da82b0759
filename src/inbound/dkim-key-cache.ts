import { LRUCache } from 'lru-cache';
import type { DkimResolver } from './complaint-trust';

/** How long a key (or any answer) is reused: a loop rotating its key publishes the new one well ahead of use. */
export const DKIM_KEY_TTL_MS = 5 * 60_000;
/** How long "no such key" is reused: short, so a key published after a first report is found soon. */
export const DKIM_KEY_MISS_TTL_MS = 30_000;
/** Names kept per process: the reporters and domains of COMPLAINT_TRUSTED_SOURCES need few; forged selectors many. */
export const DKIM_KEY_CACHE_MAX = 1000;

/**
 * Lookups whose failure is an answer and may be reused for DKIM_KEY_MISS_TTL_MS. Any other (timeout, SERVFAIL,
 * refused) is a temperror that answers 451 for a retry: the retry must ask again, so it is never kept.
 */
const ANSWERED = new Set(['ENOTFOUND', 'ENODATA']);

type Answer = ReturnType<DkimResolver>;
export type DkimKeyCache = LRUCache<string, Answer>;

/** An empty cache for cachedDkimResolver: built once with the intake's resolver, never shared through a module. */
export function dkimKeyCache(max = DKIM_KEY_CACHE_MAX): DkimKeyCache {
  return new LRUCache<string, Answer>({ max, ttl: DKIM_KEY_TTL_MS });
}

/**
 * `resolver` with its answers kept in `cache`: every report naming a listed domain costs key lookups, and a flood
 * of forged ones would otherwise send each to the DNS again. The promise itself is kept, so concurrent lookups of a
 * name share one query.
 */
export function cachedDkimResolver(resolver: DkimResolver, cache: DkimKeyCache): DkimResolver {
  return (name, type) => {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const answer = (async () => resolver(name, type))();
    cache.set(key, answer);
    answer.catch((err: { code?: string }) => {
      if (cache.peek(key) !== answer) return;
      if (ANSWERED.has(err?.code ?? '')) cache.set(key, answer, { ttl: DKIM_KEY_MISS_TTL_MS });
      else cache.delete(key);
    });
    return answer;
  };
}
