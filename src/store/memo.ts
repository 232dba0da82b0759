/** One value read at most every `ttlMs` (the load's promise is shared by every caller meanwhile); `forget` rereads at once. */
export class Memo<T> {
  private entry: { until: number; value: Promise<T> } | null = null;

  constructor(private readonly ttlMs: number) {}

  get(load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    if (this.entry && this.entry.until > now) return this.entry.value;
    const value = load();
    this.entry = { until: now + this.ttlMs, value };
    return value;
  }

  forget(): void {
    this.entry = null;
  }
}
