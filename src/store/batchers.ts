import type { Coalescer } from '../coalesce';

/** The store's batchers, one per name ('accept', 'suppression', ...): each group commit shares one per store. */
export type BatcherName = 'accept' | 'suppression' | 'suppression-no-patterns' | 'list-members';

/**
 * The group-commit batchers (src/coalesce.ts) of one store. A feature module says how its batcher is made; the
 * store makes it once, on first use, so every caller of the same store joins the same groups and two stores in
 * one process (two apps in one test) never share one.
 */
export class Batchers {
  private readonly made = new Map<BatcherName, Coalescer<unknown, unknown>>();

  get<T, R>(name: BatcherName, make: () => Coalescer<T, R>): Coalescer<T, R> {
    let c = this.made.get(name) as Coalescer<T, R> | undefined;
    if (!c) {
      c = make();
      this.made.set(name, c as unknown as Coalescer<unknown, unknown>);
    }
    return c;
  }

  /** How a batcher has grouped so far (flushes and the items they carried); zeros before its first use. */
  stats(name: BatcherName): { flushes: number; items: number } {
    const c = this.made.get(name);
    return { flushes: c?.flushes ?? 0, items: c?.items ?? 0 };
  }
}
