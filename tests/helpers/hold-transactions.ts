import type { Store } from '../../src/store/store';

/** A gate on the store's batch transactions, for a test that acts while a request is between two of its commits. */
export interface HeldTransactions {
  /** Resolves when a transaction is first held. */
  reached: Promise<void>;
  /** Lets the held transaction (and every later one) go on. */
  open(): void;
  /** Opens the gate and puts the store's own batchTransaction back. */
  restore(): void;
}

/**
 * Holds every batch transaction that starts while `when()` is true, until `open()`. Wraps the one Store the test's
 * harness built (no module mocking): the request under test runs its real commits, one of them held.
 */
export function holdTransactions(store: Store, when: () => Promise<boolean>): HeldTransactions {
  const original = store.batchTransaction;
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let between!: () => void;
  const reached = new Promise<void>((r) => (between = r));
  store.batchTransaction = async function <T>(this: Store, fn: Parameters<typeof original>[0]): Promise<T> {
    if (await when()) {
      between();
      await gate;
    }
    return original.call(this, fn) as Promise<T>;
  } as typeof original;
  return {
    reached,
    open,
    restore() {
      open();
      store.batchTransaction = original;
    },
  };
}
