/**
 * Keeps a label bounded: the values seen most often (up to `max`) get their own label, the rest count as
 * `other`. A value is admitted once it has been seen `threshold` times among the candidates and a place is free;
 * an admitted value keeps its label for the life of the process, so the counters under it stay monotonic.
 * Candidate counts are halved when the candidate table fills up, so old one-off values fade out
 * (a small form of the "space saving" heavy-hitter count).
 */
export class TopLabels {
  private readonly admitted = new Set<string>();
  private readonly candidates = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly threshold = 5,
    private readonly maxCandidates = 2000,
  ) {}

  /** The label to count `value` under. */
  label(value: string): string {
    if (this.admitted.has(value)) return value;
    if (this.admitted.size >= this.max) return 'other';
    const seen = (this.candidates.get(value) ?? 0) + 1;
    if (seen >= this.threshold) {
      this.candidates.delete(value);
      this.admitted.add(value);
      return value;
    }
    if (this.candidates.size >= this.maxCandidates && !this.candidates.has(value)) this.fade();
    this.candidates.set(value, seen);
    return 'other';
  }

  private fade(): void {
    for (const [k, n] of this.candidates) {
      if (n <= 1) this.candidates.delete(k);
      else this.candidates.set(k, n >> 1);
    }
  }
}
