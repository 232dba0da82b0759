/**
 * A worker's budget of message-body bytes between lease and settle (DELIVERY_MAX_BYTES_IN_FLIGHT): what bounds its
 * memory when DELIVERY_CONCURRENCY is high and the bodies are large. Requests are granted in arrival order, each once
 * it fits beside what is held; a body larger than the whole budget is granted when nothing else is held, so it goes
 * alone and never waits forever.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];
  /** The most bytes held at once (for tests and reports). */
  peak = 0;

  constructor(readonly limit: number) {}

  get inUse(): number {
    return this.used;
  }

  /** A hold of `bytes`, once they fit (first come, first served: a big request is not overtaken for ever by small ones). */
  async hold(bytes: number): Promise<BudgetHold> {
    await this.take(bytes);
    return new BudgetHold(this, bytes);
  }

  /** @internal for BudgetHold */
  async take(bytes: number): Promise<void> {
    if (!this.waiting.length && this.fits(bytes)) return this.add(bytes);
    await new Promise<void>((grant) => this.waiting.push({ bytes, grant }));
  }

  /** @internal for BudgetHold */
  give(bytes: number): void {
    this.used -= bytes;
    while (this.waiting.length && this.fits(this.waiting[0].bytes)) {
      const w = this.waiting.shift()!;
      this.add(w.bytes);
      w.grant();
    }
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  private add(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }
}

/** One delivery's share of the budget: taken before its lease, resized to its body once the lease says how big it is. */
export class BudgetHold {
  private released = false;

  constructor(
    private readonly budget: ByteBudget,
    private held: number,
  ) {}

  get bytes(): number {
    return this.held;
  }

  /**
   * To `bytes`: at once when smaller; when larger, the hold is given back first and the new size waits its turn (two
   * deliveries each waiting to grow while holding their first share would wait for each other for ever).
   */
  async resize(bytes: number): Promise<void> {
    if (this.released) throw new Error('the budget hold was released');
    if (bytes <= this.held) {
      const freed = this.held - bytes;
      this.held = bytes;
      if (freed) this.budget.give(freed);
      return;
    }
    const old = this.held;
    this.held = 0;
    this.budget.give(old);
    await this.budget.take(bytes);
    if (this.released) return this.budget.give(bytes); // released while it waited: nothing may stay held
    this.held = bytes;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const held = this.held;
    this.held = 0;
    if (held) this.budget.give(held);
  }
}
