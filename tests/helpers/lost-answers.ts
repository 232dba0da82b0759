import type { Knex } from 'knex';

/**
 * Loses the answer of the database's next `count` transactions after their COMMIT landed: each runs and commits for
 * real, then its caller gets an error, as when the connection drops right after the server committed. Wraps the one
 * Knex the test's harness built (no module mocking); `restore()` puts its own `transaction` back.
 */
export function loseAnswers(db: Knex, count: number): { lost: () => number; restore: () => void } {
  // Knex defines its methods read-only (configurable): redefined here, and the original definition put back.
  const own = Object.getOwnPropertyDescriptor(db, 'transaction')!;
  const original = db.transaction;
  let lost = 0;
  Object.defineProperty(db, 'transaction', {
    configurable: true,
    value: async function (this: Knex, fn: (trx: Knex.Transaction) => Promise<unknown>) {
      const result = await original.call(this, fn);
      if (lost < count) {
        lost++;
        throw new Error('Connection lost: The server closed the connection. (test, after COMMIT)');
      }
      return result;
    },
  });
  return {
    lost: () => lost,
    restore() {
      Object.defineProperty(db, 'transaction', own);
    },
  };
}
