/**
 * Turn-taking for heavy commands (a batch send of up to 1,000 messages): at most `slots` run at once in this
 * process and the rest wait in line, first come first served. A request that finds the line full, or waits
 * longer than `maxWaitMs`, is refused with 100007 / 503 and Retry-After, which every door writes in its own
 * envelope; nothing of it was written, so the client sends it again.
 *
 * Why: each batch in flight holds its request, its validated messages, their rows and the SQL text at once, and
 * what it allocates lives for seconds, so the garbage collector promotes it and the old generation (RSS) grows
 * with the number in flight. On a few cores they finish no sooner side by side than in turn; in turn, the
 * process needs memory for `slots` batches plus the parsed bodies of those waiting.
 */
import { HardError, TEMPORARILY_UNAVAILABLE } from './errors';

export interface AdmissionOptions {
  /** How many may run at once. */
  slots: number;
  /** How many may wait for a slot; one more is refused at once. */
  queue: number;
  /** The longest a request waits for its turn before it is refused. */
  maxWaitMs: number;
  /** What the refusal calls the work ("batch sends"). */
  what: string;
}

interface Waiter {
  start(): void;
}

export class Admission {
  private running = 0;
  private readonly line: Waiter[] = [];

  constructor(private readonly opts: AdmissionOptions) {}

  /** Runs `work` when a slot is free (at once if one is and nobody waits). */
  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.enter();
    try {
      return await work();
    } finally {
      this.leave();
    }
  }

  /** Running now, and waiting (for tests and metrics). */
  get active(): number {
    return this.running;
  }
  get waiting(): number {
    return this.line.length;
  }

  private enter(): Promise<void> {
    if (this.running < this.opts.slots && !this.line.length) {
      this.running += 1;
      return Promise.resolve();
    }
    if (this.line.length >= this.opts.queue) return Promise.reject(this.refusal('the line is full'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.line.splice(this.line.indexOf(waiter), 1);
        reject(this.refusal(`no turn came within ${Math.round(this.opts.maxWaitMs / 1000)} seconds`));
      }, this.opts.maxWaitMs);
      this.line.push(waiter);
    });
  }

  private leave(): void {
    // The slot passes straight to the next in line, so a newcomer cannot overtake those waiting.
    const next = this.line.shift();
    if (next) next.start();
    else this.running -= 1;
  }

  private refusal(why: string): HardError {
    const retryAfterSec = 2;
    return new HardError(
      TEMPORARILY_UNAVAILABLE,
      503,
      `Service temporarily unavailable: ${this.opts.slots} ${this.opts.what} are being accepted and ${why}; nothing of this request was written. Retry in ${retryAfterSec} seconds.`,
      false,
      retryAfterSec,
    );
  }
}
