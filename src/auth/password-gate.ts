import pLimit from 'p-limit';
import { burnPasswordCheck, hashPassword, padCosts, scrypt, Scrypt, verifyPassword } from './secrets';

/** A password check refused because this process already has as many queued as it will take. */
export class PasswordGateBusy extends Error {
  constructor() {
    super('too many password checks at once');
  }
}

/**
 * The process's password checks. Each is an scrypt run (about 32 MiB and tens of ms) on libuv's thread pool, which
 * file reads, dns.lookup and zlib share. A login flood from many addresses passes the per-client and per-account
 * throttles; unchecked, it would take every pool thread and queue without end. So at most `concurrency` checks run
 * at once, and past `maxWaiting` queued behind them a check is refused at once, not answered seconds later.
 */
export class PasswordGate {
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
    private readonly kdf: Scrypt = scrypt,
  ) {
    this.limit = pLimit(concurrency);
  }

  /**
   * Whether `password` matches the stored hash; throws PasswordGateBusy when the queue is full. A miss costs at least
   * what burn(…, cost) does (padCosts: the hash may predate a raised PASSWORD_HASH_COST), in the same turn of the gate.
   */
  verify(password: string, stored: string, cost: number): Promise<boolean> {
    return this.run(async () => {
      if (await verifyPassword(password, stored, this.kdf)) return true;
      for (const k of padCosts(stored, cost)) await burnPasswordCheck(password, k, this.kdf);
      return false;
    });
  }

  /** A new hash of a password a login just proved (src/auth/rehash.ts): scrypt like a check, so it waits its turn. */
  hash(password: string, cost?: number): Promise<string> {
    return this.run(() => hashPassword(password, cost, this.kdf));
  }

  /** A check against a throw-away hash, so a login naming no account costs as long as one that does. */
  burn(password: string, cost?: number): Promise<void> {
    return this.run(() => burnPasswordCheck(password, cost, this.kdf));
  }

  private run<T>(check: () => Promise<T>): Promise<T> {
    // Running and queued together: p-limit starts a check a microtask after it is queued, so a check about to run
    // is still counted as pending, and with no queue allowed (0) a lone check would be refused.
    if (this.limit.activeCount + this.limit.pendingCount >= this.concurrency + this.maxWaiting) return Promise.reject(new PasswordGateBusy());
    return this.limit(check);
  }
}
