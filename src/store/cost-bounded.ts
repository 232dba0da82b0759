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
/** Keys kept (a campaign list page shows up to 100). Only costly values are kept, so cheap ones never push them out. */
const MAX_KEYS = 1_000;

interface Entry<V> {
  value: V;
  /** When the value was counted, or when its last recount failed (the next try waits as long as a reuse). */
  at: number;
  costMs: number;
  refreshing?: Promise<V>;
}

const reuseMs = (costMs: number): number => Math.min(MAX_REUSE_MS, Math.max(MIN_REUSE_MS, costMs * REUSE_FACTOR));

/**
 * Counts bounded in cost, for figures a page polls (campaign progress, an account's contacts). A value computed in
 * under `liveMs` is computed afresh on every read and not kept. A costlier one is reused for 20 times its cost (at
 * least 2 s, at most 5 minutes), and once older than that, served as it is while one recount runs in the background,
 * so a poll never waits for a large recount (only the first read of a key in this process does); a recount that fails
 * keeps the old value and is tried again only after another such interval, so a count that keeps timing out does not
 * hold a connection for every poll. Per process and bounded (an LRU of 1,000 costly keys).
 */
export class CostBoundedCache<K, V> {
  private readonly entries = new LRUCache<K & {}, Entry<V>>({ max: MAX_KEYS });
  /** The count stored when it ends, per key. */
  private readonly loading = new Map<K, Promise<V>>();
  /** Every count running, stored or not (a forgotten key's included): what idle() waits for. */
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly liveMs: number) {}

  /** The value for `key`, computed by `load` when it must be (a failed background recount goes to `onRefreshError`). */
  async get(key: K & {}, load: () => Promise<V>, onRefreshError: (err: unknown) => void): Promise<V> {
    const e = this.entries.get(key);
    if (!e) return this.load(key, load);
    if (Date.now() - e.at >= reuseMs(e.costMs) && !e.refreshing) {
      e.refreshing = this.load(key, load);
      e.refreshing
        .catch((err: unknown) => {
          e.at = Date.now();
          try {
            onRefreshError(err);
          } catch {
            // A failing error handler must not become an unhandled rejection (Node ends the process on one).
          }
        })
        .finally(() => (e.refreshing = undefined));
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
    await Promise.allSettled([...this.running]);
  }

  /** One count of a key at a time in this process: concurrent first reads share it. */
  private load(key: K & {}, load: () => Promise<V>): Promise<V> {
    const pending = this.loading.get(key);
    if (pending) return pending;
    const started = Date.now();
    const p: Promise<V> = load()
      .then((value) => {
        const costMs = Date.now() - started;
        if (this.loading.get(key) === p) {
          if (costMs >= this.liveMs) this.entries.set(key, { value, at: Date.now(), costMs });
          else this.entries.delete(key); // cheap now: counted live from here on, and no slot taken from a costly key
        }
        return value;
      })
      .finally(() => {
        if (this.loading.get(key) === p) this.loading.delete(key);
        this.running.delete(p);
      });
    this.loading.set(key, p);
    this.running.add(p);
    return p;
  }
}
