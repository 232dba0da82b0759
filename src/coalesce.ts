/**
 * Group commit for the hot paths: callers `submit` one item each and get their own result, while the work is
 * done for many items at once (one transaction, one multi-row statement, one queue round trip). While a flush
 * is running, new items wait and go together in the next one, so batches grow with the load and a lone item is
 * flushed at once (after the current event-loop turn, which lets items submitted together share a flush; with
 * `gatherMs`, after the turns that keep bringing items).
 *
 * `flush` returns one result per item, in order. If it throws for a group of several, each item is flushed on
 * its own so one bad item cannot fail its neighbours; a lone item's error goes to its caller. An outage fails
 * the group and the waiting items at once (see `failsAll`).
 */
import { isOutage } from './outage';

export interface CoalesceOptions {
  /** For the group-size report (POSTERN_COALESCE_STATS=1 prints every coalescer's figures at exit). */
  name?: string;
  /** Most items per flush. */
  maxItems: number;
  /** Flushes allowed at the same time (each one is a transaction or round trip of its own). */
  maxInFlight?: number;
  /**
   * With maxInFlight > 1: a further flush starts beside running ones only once the newest of them has run this
   * long, or when a full group (maxItems) waits. Items that arrive meanwhile join the next group instead of
   * splitting the same load into two smaller ones, while a flush held up (a lock, a slow statement) still holds the
   * others up for no longer than this. Default 0: at once.
   */
  overlapAfterMs?: number;
  /**
   * Errors that are no item's fault: the whole group fails with it at once, and so do the items waiting for the
   * next flush, instead of each one waiting for its own try (a timeout apiece). Default: a database or Redis
   * outage (src/outage.ts).
   */
  failsAll?: (err: unknown) => boolean;
  /**
   * For a flush that never waits on I/O (the embedded store's statements are synchronous): before it starts, wait
   * further event-loop turns while each one brings new items, for at most this long from the first, or until a full
   * group (maxItems) waits. Such a flush lets no request in while it runs, and a server takes one new connection per
   * turn (libuv 1.45+, Node 20), so without it sends arriving together on fresh connections were flushed one by one.
   * A lone item waits one turn more. Default 0: flush after the turn that submitted the item.
   */
  gatherMs?: number;
  /** Told the size of every group flush (the group-commit metric). */
  observe?: (items: number) => void;
}

interface Waiting<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class Coalescer<T, R> {
  private waiting: Waiting<T, R>[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** When the newest running flush started (for overlapAfterMs), and the timer that waits for it. */
  private newestStart = 0;
  private overlapTimer: NodeJS.Timeout | null = null;
  private readonly maxInFlight: number;
  /** Group flushes started and the items they carried (their ratio is the mean group size); one-by-one retries after a failed group are not counted. */
  flushes = 0;
  items = 0;
  /** Time spent in successful group flushes. */
  busyMs = 0;

  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly opts: CoalesceOptions,
  ) {
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
    if (process.env.POSTERN_COALESCE_STATS === '1') {
      process.once('exit', () =>
        process.stderr.write(
          `coalesce ${opts.name ?? '?'} pid ${process.pid}: ${this.items} items in ${this.flushes} flushes, ${(this.busyMs / Math.max(1, this.flushes)).toFixed(1)} ms each\n`,
        ),
      );
    }
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a flush (for tests and metrics). */
  get pending(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || !this.waiting.length) return;
    const wait = this.overlapWait();
    if (wait > 0) {
      // Unref'd: the running flush keeps the process alive, and its end schedules again.
      this.overlapTimer ??= setTimeout(() => {
        this.overlapTimer = null;
        this.schedule();
      }, wait).unref();
      return;
    }
    this.scheduled = true;
    setImmediate(() => this.afterTurn(Date.now(), 0));
  }

  /** Starts the flush, or (gatherMs) waits one more turn if the last one brought items and there is time and room left. */
  private afterTurn(since: number, seen: number): void {
    const limit = this.opts.gatherMs ?? 0;
    const n = this.waiting.length;
    if (limit > 0 && n > seen && n < this.opts.maxItems && Date.now() - since < limit) {
      setImmediate(() => this.afterTurn(since, n));
      return;
    }
    this.scheduled = false;
    this.start();
  }

  /** Milliseconds until another flush may start beside the running ones (overlapAfterMs); 0 when it may now. */
  private overlapWait(): number {
    const after = this.opts.overlapAfterMs ?? 0;
    if (!after || !this.inFlight || this.waiting.length >= this.opts.maxItems) return 0;
    return Math.max(0, this.newestStart + after - Date.now());
  }

  private start(): void {
    while (this.inFlight < this.maxInFlight && this.waiting.length && this.overlapWait() === 0) {
      const group = this.waiting.splice(0, this.opts.maxItems);
      this.inFlight += 1;
      this.newestStart = Date.now();
      void this.run(group).finally(() => {
        this.inFlight -= 1;
        this.schedule();
      });
    }
    this.schedule();
  }

  /** Flushes items and checks that one result came back per item. */
  private async flushChecked(items: T[]): Promise<R[]> {
    const results = await this.flush(items);
    if (results.length !== items.length) throw new Error(`flush returned ${results.length} results for ${items.length} items`);
    return results;
  }

  private async run(group: Waiting<T, R>[]): Promise<void> {
    this.flushes += 1;
    this.items += group.length;
    this.opts.observe?.(group.length);
    const started = Date.now();
    try {
      const results = await this.flushChecked(group.map((w) => w.item));
      this.busyMs += Date.now() - started;
      group.forEach((w, i) => w.resolve(results[i]));
    } catch (err) {
      if ((this.opts.failsAll ?? isOutage)(err)) {
        for (const w of [...group, ...this.waiting.splice(0)]) w.reject(err);
        return;
      }
      if (group.length === 1) return group[0].reject(err);
      // One at a time, so the item that broke the group fails alone.
      for (const w of group) {
        try {
          const [r] = await this.flushChecked([w.item]);
          w.resolve(r);
        } catch (e) {
          w.reject(e);
        }
      }
    }
  }
}
