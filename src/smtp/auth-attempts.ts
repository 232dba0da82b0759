/** Why an attempt did not run: the client has no failures left, or too many of its attempts are already waiting. */
export type Refusal = 'spent' | 'crowded';

interface Client {
  running: number;
  waiting: Array<() => void>;
}

/**
 * One process's AUTH attempts per client, held to the client's failures left. Each failure is counted after its
 * check, so attempts sent together (many connections at once) would all pass a look at the count made before any
 * had failed: a guesser got a connection cap's worth of tries per round, not SMTP_MAX_AUTH_FAILURES. Here at most
 * `left` of a client's attempts run at once, where `left` is the failures it may still make; the rest wait their
 * turn, not refused, so a pool opening more connections at once than the cap still gets in (a success spends
 * nothing). Across processes a client gets at most one round per process.
 */
export class AuthAttempts {
  private readonly clients = new Map<string, Client>();

  /** `maxWaiting`: attempts one client may have queued here before more are refused at once. */
  constructor(private readonly maxWaiting: number) {}

  /**
   * Runs `attempt` (which must count its own failure before it settles) once fewer of this client's attempts are
   * running than `left()` answers; a refusal when `left()` answers 0 or the queue is full.
   */
  async run<T>(client: string, left: () => Promise<number>, attempt: () => Promise<T>): Promise<T | Refusal> {
    for (;;) {
      const room = await left();
      // Read after the await: the entry may have been dropped and made again meanwhile.
      const c = this.entry(client);
      if (room <= 0) {
        this.forgetIdle(client, c);
        return 'spent';
      }
      if (c.running < room) {
        c.running += 1;
        break;
      }
      if (c.waiting.length >= this.maxWaiting) return 'crowded';
      await new Promise<void>((resolve) => c.waiting.push(resolve));
    }
    try {
      return await attempt();
    } finally {
      const c = this.entry(client);
      c.running -= 1;
      // Every waiter looks again: a success left the count as it was, a failure lowered it for all.
      const woken = c.waiting.splice(0);
      for (const wake of woken) wake();
      this.forgetIdle(client, c);
    }
  }

  private entry(client: string): Client {
    let c = this.clients.get(client);
    if (!c) {
      c = { running: 0, waiting: [] };
      this.clients.set(client, c);
    }
    return c;
  }

  private forgetIdle(client: string, c: Client): void {
    if (c.running === 0 && c.waiting.length === 0) this.clients.delete(client);
  }
}
