/** One value read at most every `ttlMs` (the load's promise is shared by every caller meanwhile; a failed one is dropped); `forget` rereads at once. */
export class Memo<T> {
  private entry: { until: number; value: Promise<T> } | null = null;

  constructor(private readonly ttlMs: number) {}

  get(load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    if (this.entry && this.entry.until > now) return this.entry.value;
    const value = load();
    const entry = { until: now + this.ttlMs, value };
    this.entry = entry;
    // A failed load is not kept: the next caller tries again instead of getting the failure for ttlMs.
    value.catch(() => {
      if (this.entry === entry) this.entry = null;
    });
    return value;
  }

  forget(): void {
    this.entry = null;
  }
}
