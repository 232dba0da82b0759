import { LRUCache } from 'lru-cache';

/** A value is reused for this many times what it cost, so recomputing takes at most 1/20 of a connection per key ... */
const REUSE_FACTOR = 20;
/** ... for at least this long ... */
const MIN_REUSE_MS = 2_000;
/**
 * ... and at most this long: a sending campaign's figures must move. A count that has to read from disk costs far more
 * (53 s at 1,000,000 recipients with MariaDB's default 128 MiB buffer pool, against 1 s at 250,000 from memory), and
 * 20 times that would leave its figures unchanged for 18 minutes.
 */
const MAX_REUSE_MS = 300_000;
/** Keys kept (a campaign list page shows up to 100). */
const MAX_KEYS = 1_000;

interface Entry<V> {
  value: V;
  at: number;
  costMs: number;
  refreshing?: Promise<V>;
}

/**
 * Counts bounded in cost, for figures a page polls (campaign progress, an account's contacts). A value computed in
 * under `liveMs` is computed afresh on every read. A costlier one is reused for 20 times its cost (at least 2 s, at
 * most 5 minutes), and once older than that, served as it is while one recount runs in the background, so a poll
 * never waits for a large recount (only the first read of a key in this process does). Per process and bounded (an
 * LRU of 1,000 keys).
 */
export class CostBoundedCache<K, V> {
  private readonly entries = new LRUCache<K & {}, Entry<V>>({ max: MAX_KEYS });
  private readonly loading = new Map<K, Promise<V>>();

  constructor(private readonly liveMs: number) {}

  /** The value for `key`, computed by `load` when it must be (a failed background recount goes to `onRefreshError`). */
  async get(key: K & {}, load: () => Promise<V>, onRefreshError: (err: unknown) => void): Promise<V> {
    const e = this.entries.get(key);
    if (!e || e.costMs < this.liveMs) return this.load(key, load);
    if (Date.now() - e.at >= Math.min(MAX_REUSE_MS, Math.max(MIN_REUSE_MS, e.costMs * REUSE_FACTOR)) && !e.refreshing) {
      e.refreshing = this.load(key, load);
      // The stale value stays in place when a recount fails; the next read after this one tries again.
      e.refreshing.catch(onRefreshError).finally(() => (e.refreshing = undefined));
    }
    return e.value;
  }

  /** The next read computes afresh. */
  forget(key: K & {}): void {
    this.entries.delete(key);
    this.loading.delete(key); // a count already running keeps its callers but is not stored
  }

  /** Waits for every count this process has running (a bench or test before it closes the database). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.loading.values()]);
  }

  /** One count of a key at a time in this process: concurrent first reads share it. */
  private load(key: K & {}, load: () => Promise<V>): Promise<V> {
    const pending = this.loading.get(key);
    if (pending) return pending;
    const started = Date.now();
    const p: Promise<V> = load()
      .then((value) => {
        if (this.loading.get(key) === p) this.entries.set(key, { value, at: Date.now(), costMs: Date.now() - started });
        return value;
      })
      .finally(() => {
        if (this.loading.get(key) === p) this.loading.delete(key);
      });
    this.loading.set(key, p);
    return p;
  }
}
